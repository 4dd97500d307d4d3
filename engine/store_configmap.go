package engine

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Keys of the progress in a ConfigMapStore's ConfigMap: plain JSON in
// data, or gzip-compressed JSON in binaryData once the JSON outgrows
// maxPlainProgress.
const (
	ConfigMapProgressKey           = "progress.json"
	ConfigMapCompressedProgressKey = "progress.json.gz"
)

// maxPlainProgress keeps the ConfigMap well under the API server's limit
// of about 1 MiB per object.
const maxPlainProgress = 512 << 10

// configMapSaveAttempts bounds the read-modify-write retries of one Save
// when another writer changed the ConfigMap in between.
const configMapSaveAttempts = 5

// ManagedByLabel marks the objects certwave keeps its own state in.
const ManagedByLabel = "app.kubernetes.io/managed-by"

// ConfigMapStore keeps progress in a ConfigMap, so that a run resumes from
// any machine with access to the cluster. The namespace must exist. It
// stores only Progress, which holds names, times, counts and condition
// messages; Save rejects progress that contains PEM private key material.
type ConfigMapStore struct {
	Client    client.Client
	Namespace string
	Name      string
	// Annotations are set on the ConfigMap at each Save, such as the plan
	// digest.
	Annotations map[string]string
}

var _ Store = (*ConfigMapStore)(nil)

func (s *ConfigMapStore) key() client.ObjectKey {
	return client.ObjectKey{Namespace: s.Namespace, Name: s.Name}
}

// Object returns ConfigMap/namespace/name for messages.
func (s *ConfigMapStore) Object() string {
	return "ConfigMap/" + s.Namespace + "/" + s.Name
}

// Load implements Store.
func (s *ConfigMapStore) Load(ctx context.Context) (*Progress, error) {
	cm := &corev1.ConfigMap{}
	err := s.Client.Get(ctx, s.key(), cm)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read progress from %s: %w", s.Object(), err)
	}
	var data []byte
	if zipped, ok := cm.BinaryData[ConfigMapCompressedProgressKey]; ok {
		r, err := gzip.NewReader(bytes.NewReader(zipped))
		if err != nil {
			return nil, fmt.Errorf("decode progress in %s: %w", s.Object(), err)
		}
		if data, err = io.ReadAll(r); err != nil {
			return nil, fmt.Errorf("decode progress in %s: %w", s.Object(), err)
		}
	} else if plain, ok := cm.Data[ConfigMapProgressKey]; ok {
		data = []byte(plain)
	} else {
		return nil, nil
	}
	p := &Progress{}
	if err := json.Unmarshal(data, p); err != nil {
		return nil, fmt.Errorf("decode progress in %s: %w", s.Object(), err)
	}
	return p, nil
}

// ReadAnnotations returns the ConfigMap's annotations, or nil when it does
// not exist.
func (s *ConfigMapStore) ReadAnnotations(ctx context.Context) (map[string]string, error) {
	cm := &corev1.ConfigMap{}
	err := s.Client.Get(ctx, s.key(), cm)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", s.Object(), err)
	}
	return cm.Annotations, nil
}

// Save implements Store. It creates the ConfigMap when missing and reads
// it again when another writer changed it in between.
func (s *ConfigMapStore) Save(ctx context.Context, p *Progress) error {
	data, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encode progress: %w", err)
	}
	if containsPrivateKey(data) {
		return fmt.Errorf("refusing to save progress to %s: it contains PEM private key material", s.Object())
	}
	plain, zipped := string(data), []byte(nil)
	if len(data) > maxPlainProgress {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		if _, err := zw.Write(data); err != nil {
			return fmt.Errorf("compress progress: %w", err)
		}
		if err := zw.Close(); err != nil {
			return fmt.Errorf("compress progress: %w", err)
		}
		plain, zipped = "", buf.Bytes()
	}

	for attempt := 1; ; attempt++ {
		err := s.write(ctx, plain, zipped)
		if err == nil {
			return nil
		}
		if attempt >= configMapSaveAttempts || !(apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err)) {
			if apierrors.IsNotFound(err) {
				return fmt.Errorf("save progress to %s: namespace %s not found: create it (kubectl create namespace %s) or pass another --state-namespace", s.Object(), s.Namespace, s.Namespace)
			}
			return fmt.Errorf("save progress to %s: %w", s.Object(), err)
		}
	}
}

// write sends one create or update of the ConfigMap.
func (s *ConfigMapStore) write(ctx context.Context, plain string, zipped []byte) error {
	cm := &corev1.ConfigMap{}
	err := s.Client.Get(ctx, s.key(), cm)
	exists := err == nil
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	if !exists {
		cm = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: s.Namespace, Name: s.Name}}
	}
	if cm.Labels == nil {
		cm.Labels = map[string]string{}
	}
	cm.Labels[ManagedByLabel] = FieldManager
	if len(s.Annotations) > 0 && cm.Annotations == nil {
		cm.Annotations = map[string]string{}
	}
	maps.Copy(cm.Annotations, s.Annotations)
	cm.Data, cm.BinaryData = nil, nil
	if zipped != nil {
		cm.BinaryData = map[string][]byte{ConfigMapCompressedProgressKey: zipped}
	} else {
		cm.Data = map[string]string{ConfigMapProgressKey: plain}
	}
	if exists {
		return s.Client.Update(ctx, cm, client.FieldOwner(FieldManager))
	}
	return s.Client.Create(ctx, cm, client.FieldOwner(FieldManager))
}

// containsPrivateKey reports whether data holds the header of a PEM
// private key block (PKCS#1, PKCS#8, SEC 1 or OpenSSH), also as escaped
// JSON.
func containsPrivateKey(data []byte) bool {
	return bytes.Contains(data, []byte("PRIVATE KEY-----"))
}

// MirroredStore saves progress to a primary store, the cluster's
// ConfigMap, and a copy, a local file. Load reads the primary and falls
// back to the copy only when the primary has nothing, such as after the
// state namespace was deleted. Loaded records which one it read.
type MirroredStore struct {
	Primary Store
	Copy    Store
	// Loaded is "primary", "copy" or "" after Load.
	Loaded string
}

var _ Store = (*MirroredStore)(nil)

// Load implements Store.
func (m *MirroredStore) Load(ctx context.Context) (*Progress, error) {
	m.Loaded = ""
	p, err := m.Primary.Load(ctx)
	if err != nil || p != nil {
		if p != nil {
			m.Loaded = "primary"
		}
		return p, err
	}
	p, err = m.Copy.Load(ctx)
	if p != nil {
		m.Loaded = "copy"
	}
	return p, err
}

// Save implements Store: the primary first, so a run never goes on with
// progress that only the local copy has.
func (m *MirroredStore) Save(ctx context.Context, p *Progress) error {
	if err := m.Primary.Save(ctx, p); err != nil {
		return err
	}
	return m.Copy.Save(ctx, p)
}
