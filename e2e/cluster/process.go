package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A process the cluster started. Its pid and executable are recorded in run/pids/<name>.pid so that a
// later `down` (another process) can stop it, and so that a recycled pid is never signalled.
type process struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
}

// startProcess starts bin in its own process group (so a terminal's Ctrl-C reaches only us, and we
// tear down in order), with stdout and stderr appended to logs/<name>.log.
func startProcess(l layout, name string, env []string, bin string, args ...string) (*process, error) {
	logPath := filepath.Join(l.logs(), name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fmt.Fprintf(f, "\n==== %s %s %s\n", time.Now().Format(time.RFC3339), bin, strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(p.done) }()
	rec := fmt.Sprintf("%d\n%s\n", cmd.Process.Pid, bin)
	if err := os.WriteFile(filepath.Join(l.pids(), name+".pid"), []byte(rec), 0o644); err != nil {
		return nil, err
	}
	return p, nil
}

// exited reports whether a process we started has exited.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// recordedPid returns the pid recorded for name if that pid still runs the recorded executable.
func recordedPid(l layout, name string) (int, bool) {
	data, err := os.ReadFile(filepath.Join(l.pids(), name+".pid"))
	if err != nil {
		return 0, false
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) < 2 {
		return 0, false
	}
	pid, err := strconv.Atoi(lines[0])
	if err != nil {
		return 0, false
	}
	if !runsExe(pid, lines[1]) {
		return 0, false
	}
	return pid, true
}

// runsExe reports whether pid is alive (not a zombie) and runs exe.
func runsExe(pid int, exe string) bool {
	got, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return false
	}
	got = strings.TrimSuffix(got, " (deleted)")
	return got == exe && !isZombie(pid)
}

func isZombie(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] == 'Z' || s[i+2] == 'X'
}

func pidAlive(pid int) bool {
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
		return false
	}
	return !isZombie(pid)
}

// stopRecorded stops the process recorded under name: SIGTERM, then SIGKILL after grace.
// live is the in-process handle when this process started it (so it gets reaped), else nil.
func stopRecorded(l layout, name string, live *process, grace time.Duration) error {
	pidFile := filepath.Join(l.pids(), name+".pid")
	pid, ok := recordedPid(l, name)
	if !ok {
		os.Remove(pidFile)
		return nil
	}
	gone := func() bool {
		if live != nil && live.cmd.Process != nil && live.cmd.Process.Pid == pid {
			return live.exited()
		}
		return !pidAlive(pid)
	}
	syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	for !gone() && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if !gone() {
		syscall.Kill(pid, syscall.SIGKILL)
		deadline = time.Now().Add(10 * time.Second)
		for !gone() && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if !gone() {
			return fmt.Errorf("%s (pid %d) does not die", name, pid)
		}
	}
	os.Remove(pidFile)
	return nil
}

// waitFor polls cond until it is true, ctx ends or timeout passes; describe says what was awaited.
func waitFor(ctx context.Context, timeout time.Duration, describe string, cond func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		if err != nil {
			var stop backoffStop
			if errors.As(err, &stop) {
				return fmt.Errorf("waiting for %s: %w", describe, stop.err)
			}
			last = err
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("waiting for %s: %w (last error: %v)", describe, ctx.Err(), last)
			}
			return fmt.Errorf("waiting for %s: %w", describe, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

var errDied = errors.New("process exited")

// aliveCheck wraps a readiness condition so that a process that died fails at once.
func aliveCheck(p *process, logPath string, cond func() (bool, error)) func() (bool, error) {
	return func() (bool, error) {
		if p.exited() {
			return false, backoffStop{fmt.Errorf("%s: %w, see %s", p.name, errDied, logPath)}
		}
		return cond()
	}
}

// backoffStop is an error that ends waitFor at once.
type backoffStop struct{ err error }

func (b backoffStop) Error() string { return b.err.Error() }
func (b backoffStop) Unwrap() error { return b.err }
