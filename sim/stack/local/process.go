package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// ProcessSpec describes a server for Stack.StartProcess.
type ProcessSpec struct {
	// Name labels the process in messages and names its log,
	// <Stack.Dir>/<Name>.log.
	Name string
	// Path is the executable and Args its arguments.
	Path string
	Args []string
	// Env holds KEY=VALUE pairs added to the environment of this process.
	Env []string
	// Ready is called every 250 ms until it returns nil, the process
	// exits or the start timeout ends. Nil skips the wait.
	Ready func(ctx context.Context) error
}

// Process is a server started by the stack.
type Process struct {
	Name    string
	LogPath string
	cmd     *exec.Cmd
	done    chan struct{}
	waitErr error
}

// PID returns the process ID.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Exited reports whether the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// StartProcess starts a server, waits until spec.Ready succeeds and adds it
// to the processes that Stop ends, after every process started before it
// has been started and before those are stopped.
func (s *Stack) StartProcess(ctx context.Context, spec ProcessSpec) (*Process, error) {
	logPath := filepath.Join(s.dir, spec.Name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("create log of %s: %w", spec.Name, err)
	}
	cmd := exec.Command(spec.Path, spec.Args...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.Env = append(os.Environ(), spec.Env...)
	cmd.SysProcAttr = processAttributes(s.opts.Keep)
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s (%s): %w", spec.Name, spec.Path, err)
	}

	p := &Process{Name: spec.Name, LogPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	s.processes = append(s.processes, p)
	s.addTeardown(spec.Name, func(reportExited bool) error {
		return p.stop(s.opts.StopTimeout, reportExited)
	}, "pid", p.PID(), "log", logPath)
	s.log.Info("started", "process", spec.Name, "pid", p.PID(), "log", logPath)

	if spec.Ready == nil {
		return p, nil
	}
	start := time.Now()
	if err := s.waitReady(ctx, p, spec.Ready); err != nil {
		return nil, err
	}
	s.log.Info("ready", "process", spec.Name, "after", time.Since(start).Round(time.Millisecond))
	return p, nil
}

// waitReady polls ready until it succeeds, the process exits or the start
// timeout ends. Its errors carry the last lines of the process log.
func (s *Stack) waitReady(ctx context.Context, p *Process, ready func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, s.opts.StartTimeout)
	defer cancel()
	ticker := time.NewTicker(250 * time.Millisecond)
	defer ticker.Stop()
	for {
		err := ready(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before it was ready (%v); last lines of %s:\n%s", p.Name, p.waitErr, p.LogPath, tail(p.LogPath, 20))
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %s: %v; last lines of %s:\n%s", p.Name, s.opts.StartTimeout, err, p.LogPath, tail(p.LogPath, 20))
		case <-ticker.C:
		}
	}
}

// stop sends SIGTERM, then SIGKILL if the process is still running after
// the stop timeout, and waits for it to exit. With reportExited set, a
// process that had already exited is an error, because the stack lost it
// while running.
func (p *Process) stop(timeout time.Duration, reportExited bool) error {
	if p.Exited() {
		if !reportExited {
			return nil
		}
		return fmt.Errorf("%s (pid %d) exited before Stop (%v); see %s", p.Name, p.PID(), p.waitErr, p.LogPath)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("send SIGTERM to %s (pid %d): %w", p.Name, p.PID(), err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(timeout):
	}
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("send SIGKILL to %s (pid %d): %w", p.Name, p.PID(), err)
	}
	<-p.done
	return fmt.Errorf("%s (pid %d) still running %s after SIGTERM; killed", p.Name, p.PID(), timeout)
}

// FreePort returns a TCP port on 127.0.0.1 that nothing listened on a
// moment ago. Another process may take it before the server binds it, and
// that server then fails to start with an error that names the port.
func FreePort() (int, error) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port on 127.0.0.1: %w", err)
	}
	defer listener.Close()
	return listener.Addr().(*net.TCPAddr).Port, nil
}

func freeAddress() (string, error) {
	port, err := FreePort()
	if err != nil {
		return "", err
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), nil
}

// tail returns the last n lines of a file, or a note why it cannot.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
