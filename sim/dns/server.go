package dns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Options configures Start.
type Options struct {
	// Zones are the zones the server is authoritative for, for example
	// "example.com". At least one is required. Each gets SOA and NS
	// records and accepts updates signed with the server's TSIG key.
	Zones []string
	// NamedPath is the named binary. Empty means FindNamed.
	NamedPath string
	// Dir receives named.conf, the zone files, their journals and
	// named.log. Empty makes a temporary directory that Stop removes.
	// A directory given here is kept.
	Dir string
	// TSIGKeyName names the generated key. Empty means DefaultTSIGKeyName.
	TSIGKeyName string
	// StartTimeout bounds the wait until named returns every zone's SOA
	// record.
	// Zero means 30 seconds.
	StartTimeout time.Duration
	// StopTimeout is how long named gets after SIGTERM before SIGKILL.
	// Zero means 10 seconds.
	StopTimeout time.Duration
	// Log receives start, retry and stop messages. Nil discards them.
	Log *slog.Logger
}

// portAttempts is how often Start picks a new port when another process
// took the free port before named bound it.
const portAttempts = 3

// Server is a running named process. Its methods are safe for concurrent
// use.
type Server struct {
	opts      Options
	addr      string
	zones     []string
	key       TSIGKey
	dir       string
	removeDir bool
	logPath   string

	cmd     *exec.Cmd
	done    chan struct{}
	waitErr error

	stopOnce sync.Once
	stopErr  error
}

// ErrNamedNotFound means that no named binary was found.
var ErrNamedNotFound = errors.New("named not found: run hack/install-bind.sh (Debian package bind9) or set CERTWAVE_NAMED to the binary")

// FindNamed returns the named binary: $CERTWAVE_NAMED if set, else named
// from PATH, else /usr/sbin/named, where Debian installs it outside the
// PATH of most users other than root.
func FindNamed() (string, error) {
	if path := os.Getenv("CERTWAVE_NAMED"); path != "" {
		return path, nil
	}
	if path, err := exec.LookPath("named"); err == nil {
		return path, nil
	}
	const debianPath = "/usr/sbin/named"
	if info, err := os.Stat(debianPath); err == nil && !info.IsDir() {
		return debianPath, nil
	}
	return "", ErrNamedNotFound
}

// Start writes the configuration, starts named on a free port of
// 127.0.0.1 and waits until named returns every zone's SOA record over
// UDP and TCP. ctx bounds only the start. The caller must call Stop, also when a
// test fails, for example with t.Cleanup.
func Start(ctx context.Context, opts Options) (*Server, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	zones, err := normalizeZones(opts.Zones)
	if err != nil {
		return nil, err
	}

	s := &Server{opts: opts, zones: zones, key: generateTSIGKey(opts.TSIGKeyName)}
	if opts.Dir == "" {
		s.dir, err = os.MkdirTemp("", "certwave-named-")
		if err != nil {
			return nil, fmt.Errorf("create a temporary directory for named: %w", err)
		}
		s.removeDir = true
	} else {
		s.dir, err = filepath.Abs(opts.Dir)
		if err == nil {
			err = os.MkdirAll(s.dir, 0o700)
		}
		if err != nil {
			return nil, fmt.Errorf("create directory %q for named: %w", opts.Dir, err)
		}
	}
	s.logPath = filepath.Join(s.dir, logFileName)

	for attempt := 1; ; attempt++ {
		err = s.startOnce(ctx)
		if err == nil {
			return s, nil
		}
		s.kill()
		if !errors.Is(err, errPortInUse) || attempt == portAttempts {
			break
		}
		opts.Log.Warn("named could not bind its port; retrying on another", "addr", s.addr, "attempt", attempt)
	}
	if s.removeDir {
		os.RemoveAll(s.dir)
	}
	return nil, err
}

func (o Options) withDefaults() (Options, error) {
	if o.NamedPath == "" {
		path, err := FindNamed()
		if err != nil {
			return o, err
		}
		o.NamedPath = path
	}
	if o.TSIGKeyName == "" {
		o.TSIGKeyName = DefaultTSIGKeyName
	}
	o.TSIGKeyName = trimDot(o.TSIGKeyName)
	if err := validateDomainName(o.TSIGKeyName); err != nil {
		return o, fmt.Errorf("invalid Options.TSIGKeyName %q: %w", o.TSIGKeyName, err)
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = 30 * time.Second
	}
	if o.StopTimeout == 0 {
		o.StopTimeout = 10 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return o, nil
}

// startOnce starts named on a new free port and waits until it is ready.
func (s *Server) startOnce(ctx context.Context) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	s.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if err := writeFiles(s.dir, port, s.zones, s.key); err != nil {
		return err
	}

	logFile, err := os.Create(s.logPath)
	if err != nil {
		return fmt.Errorf("create named log: %w", err)
	}
	// -g keeps named in the foreground and sends its log to stderr, and -4
	// skips IPv6. -n 1 runs one worker thread instead of one per CPU,
	// because the DNS01 challenges of a rehearsal need only a few queries
	// a second.
	cmd := exec.Command(s.opts.NamedPath, "-g", "-4", "-n", "1", "-c", filepath.Join(s.dir, configFileName))
	cmd.Dir = s.dir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = processAttributes()
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("start %s: %w; run hack/install-bind.sh or set Options.NamedPath", s.opts.NamedPath, err)
	}
	s.cmd = cmd
	s.done = make(chan struct{})
	go func(done chan struct{}) {
		s.waitErr = cmd.Wait()
		logFile.Close()
		close(done)
	}(s.done)
	s.opts.Log.Info("named started", "pid", cmd.Process.Pid, "addr", s.addr, "zones", s.zones, "dir", s.dir, "tsig", s.key)

	start := time.Now()
	if err := s.waitReady(ctx); err != nil {
		return err
	}
	s.opts.Log.Info("named ready", "pid", cmd.Process.Pid, "addr", s.addr, "after", time.Since(start).Round(time.Millisecond))
	return nil
}

// Addr returns the server's address, "127.0.0.1:PORT", for UDP and TCP.
func (s *Server) Addr() string { return s.addr }

// TSIG returns the key that signs dynamic updates. Its secret belongs in a
// Kubernetes Secret, never in a log.
func (s *Server) TSIG() TSIGKey { return s.key }

// Zones returns the served zones in lower case without the trailing dot.
func (s *Server) Zones() []string { return slices.Clone(s.zones) }

// PID returns named's process ID.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Dir returns the directory with named.conf, the zone files and the log.
func (s *Server) Dir() string { return s.dir }

// LogPath returns the path of named's log. Stop removes it along with a
// temporary directory.
func (s *Server) LogPath() string { return s.logPath }

// Stop sends named SIGTERM, then SIGKILL after Options.StopTimeout, and
// removes the temporary directory. It returns an error if named had
// already exited, because the server then went missing while in use.
// Calls after the first return the first call's result.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		s.stopErr = s.stop()
		if s.removeDir {
			if err := os.RemoveAll(s.dir); err != nil && s.stopErr == nil {
				s.stopErr = fmt.Errorf("remove named directory: %w", err)
			}
		}
	})
	return s.stopErr
}

func (s *Server) stop() error {
	pid := s.cmd.Process.Pid
	if s.exited() {
		return fmt.Errorf("named (pid %d) exited before Stop (%v); last lines of %s:\n%s", pid, s.waitErr, s.logPath, tailFile(s.logPath, 20))
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("send SIGTERM to named (pid %d): %w", pid, err)
	}
	select {
	case <-s.done:
		s.opts.Log.Info("named stopped", "pid", pid, "addr", s.addr)
		return nil
	case <-time.After(s.opts.StopTimeout):
	}
	s.kill()
	return fmt.Errorf("named (pid %d) still running %s after SIGTERM; killed", pid, s.opts.StopTimeout)
}

// kill ends a started process with SIGKILL and waits for it.
func (s *Server) kill() {
	if s.cmd == nil || s.exited() {
		return
	}
	if err := s.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		s.opts.Log.Error("send SIGKILL to named failed", "pid", s.cmd.Process.Pid, "err", err)
	}
	<-s.done
}

func (s *Server) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// freePort returns a port of 127.0.0.1 on which both TCP and UDP were free
// a moment ago. Another process may take it before named binds it, and
// Start then retries on another port.
func freePort() (int, error) {
	var lastErr error
	for range 10 {
		listener, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("find a free TCP port on 127.0.0.1: %w", err)
		}
		port := listener.Addr().(*net.TCPAddr).Port
		packetConn, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		listener.Close()
		if err != nil {
			lastErr = err
			continue
		}
		packetConn.Close()
		return port, nil
	}
	return 0, fmt.Errorf("find a port of 127.0.0.1 free for both TCP and UDP: 10 tries failed, the last with: %w", lastErr)
}
