package gitops

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// Write saves the changed files, each through a temporary file in the same
// folder renamed over the original, so a reader never sees a half-written
// manifest, and deletes the removed ones. Files written before a failure
// stay written; the error names the file that failed.
func (r *Repo) Write() error {
	for _, p := range r.Changed() {
		f := r.files[p]
		full := filepath.Join(r.root, filepath.FromSlash(p))
		if f.deleted {
			if err := os.Remove(full); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("delete %s: %w", p, err)
			}
			delete(r.files, p)
			r.paths = removeString(r.paths, p)
			continue
		}
		text := f.text()
		if err := writeAtomic(full, []byte(text)); err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
		f.orig = []byte(text)
	}
	return nil
}

func writeAtomic(path string, data []byte) error {
	mode := fs.FileMode(0o644)
	if st, err := os.Stat(path); err == nil {
		mode = st.Mode().Perm()
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".certwave-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), mode); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func removeString(list []string, s string) []string {
	i := sort.SearchStrings(list, s)
	if i < len(list) && list[i] == s {
		return append(list[:i], list[i+1:]...)
	}
	return list
}

// Wave describes the commit of one migration wave.
type Wave struct {
	// Number is the wave number.
	Number int
	// Done is the number of hosts migrated once this wave is merged, and
	// Total the number of hosts the plan migrates.
	Done, Total int
	// Hosts are the hostnames the wave moves onto their own listeners.
	Hosts []string
	// Budget states the rate-limit budget the wave spends and leaves, one
	// line of free text.
	Budget string
	// Rollback is how to undo the wave, as free text.
	Rollback string
	// Branch is the branch to create; empty means certwave/wave-<Number>.
	Branch string
	// Phase is the plan phase of the commit's steps; a commit without
	// hosts, such as the private CA's issuers, is titled by it.
	Phase int
	// ListenersOnly marks the first commit of a wave, which adds the
	// listeners; the routes move in the next one.
	ListenersOnly bool
	// Steps are the IDs of the plan steps the commit makes.
	Steps []string
}

// Title returns the commit subject of the wave.
func (w Wave) Title() string {
	if len(w.Hosts) == 0 {
		return fmt.Sprintf("feat(network): per-app TLS migration, phase %d (%d/%d)", w.Phase, w.Done, w.Total)
	}
	if w.ListenersOnly {
		return fmt.Sprintf("feat(network): per-app TLS listeners for wave %d (%d/%d)", w.Number, w.Done, w.Total)
	}
	return fmt.Sprintf("feat(network): per-app TLS migration wave %d (%d/%d)", w.Number, w.Done, w.Total)
}

// CommitWave writes the pending edits and commits them as one commit on a
// new branch, using the git command in the tree's folder, which must be
// inside a Git work tree. Only the changed files are staged. Hostnames in
// the message are written with ${VAR} for the known variables, as in the
// manifests. It returns the commit hash. The branch is created before the
// files are written, so after a failed write or commit the work tree is on
// the new branch with the edits uncommitted.
func (r *Repo) CommitWave(ctx context.Context, w Wave) (string, error) {
	paths := r.Changed()
	if len(paths) == 0 {
		return "", fmt.Errorf("commit wave %d: no pending edits", w.Number)
	}
	branch := w.Branch
	if branch == "" {
		branch = fmt.Sprintf("certwave/wave-%d", w.Number)
	}
	if _, err := r.git(ctx, nil, "checkout", "-b", branch); err != nil {
		return "", fmt.Errorf("commit wave %d: %w", w.Number, err)
	}
	if err := r.Write(); err != nil {
		return "", fmt.Errorf("commit wave %d: %w", w.Number, err)
	}
	args := append([]string{"add", "-A", "--"}, paths...)
	if _, err := r.git(ctx, nil, args...); err != nil {
		return "", fmt.Errorf("commit wave %d: %w", w.Number, err)
	}
	if _, err := r.git(ctx, []byte(r.message(w)), "commit", "--file=-"); err != nil {
		return "", fmt.Errorf("commit wave %d: %w", w.Number, err)
	}
	hash, err := r.git(ctx, nil, "rev-parse", "HEAD")
	if err != nil {
		return "", fmt.Errorf("commit wave %d: %w", w.Number, err)
	}
	return strings.TrimSpace(hash), nil
}

// message returns the commit message of a wave: the title, then the hosts,
// the budget and the rollback.
func (r *Repo) message(w Wave) string {
	var b strings.Builder
	b.WriteString(w.Title() + "\n\nHosts:\n")
	for _, h := range w.Hosts {
		b.WriteString("- " + r.templated(h) + "\n")
	}
	if w.Budget != "" {
		b.WriteString("\nBudget: " + w.Budget + "\n")
	}
	if w.Rollback != "" {
		b.WriteString("\nRollback: " + w.Rollback + "\n")
	}
	if len(w.Steps) > 0 {
		b.WriteString("\nPlan steps: " + strings.Join(w.Steps, ", ") + "\n")
	}
	return b.String()
}

// git runs git in the tree's folder and returns its standard output.
func (r *Repo) git(ctx context.Context, stdin []byte, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", r.root}, args...)...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("git %s failed: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}
