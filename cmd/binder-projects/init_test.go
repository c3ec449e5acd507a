package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/binder-projects/binder-projects/contract"
	"github.com/binder-projects/binder-projects/volume"
)

// TestTheBuiltBinaryRunsTheInitCommand runs `binder-projects init`, built as in the image, once end to
// end as the notebook user, with its inputs in the environment (as the webhook sets them): the queued
// project is deleted, the launched one seeded and recorded, the JSON report written; the log names no
// input but folders. Bad inputs and arguments are refused with status 2.
func TestTheBuiltBinaryRunsTheInitCommand(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the binary as uid 1000 (CI runs as root)")
	}
	bin := buildBinary(t)
	base := sharedDir(t)
	home, root := filepath.Join(base, "home"), filepath.Join(base, "projects")
	homeTree := tree{"README.md": file("# hello\n"), "bin": dir(), "bin/run.sh": fileM(0o755, "#!/bin/sh\n"), "latest": link("README.md")}
	buildTree(t, home, homeTree, 1000, 1000)
	buildTree(t, root, tree{"gh_old": dir(), "gh_old/x": file("x"), "notes.ipynb": file("{}")}, 1000, 1000)
	report := filepath.Join(sharedDir(t), "termination-log")
	if err := os.WriteFile(report, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	os.Chmod(report, 0o666)
	env := []string{
		"PATH=/usr/bin:/bin",
		contract.EnvRoot + "=" + root,
		contract.EnvProject + "=gh_binder-examples_requirements",
		contract.EnvSource + "=" + home,
		contract.EnvDelete + "=gh_old",
		contract.EnvDeleteIDs + "=1700000000000000000",
		contract.EnvReport + "=" + report,
		contract.EnvPod + "=jupyter-user",
		contract.EnvCommit + "=abc1234",
		contract.EnvUpdate + "=1",
		"JUPYTERHUB_API_TOKEN=secret-token-never-logged",
	}
	run := func(env []string, args ...string) (int, string) {
		cmd := exec.Command(bin, append([]string{"init"}, args...)...)
		cmd.Env, cmd.Dir = env, "/"
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 1000, Gid: 1000}}
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), out.String()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0, out.String()
	}
	code, out := run(env)
	t.Logf("output:\n%s", out)
	if code != 0 {
		t.Fatalf("exit status %d", code)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.HasPrefix(line, "binder-projects: ") || strings.Contains(line, "secret-token") || strings.Contains(line, root) || strings.Contains(line, home) {
			t.Errorf("log line %q: not prefixed, or naming an input", line)
		}
	}
	got, err := contract.DecodeReport(string(readFile(t, report)))
	if err != nil {
		t.Fatal(err)
	}
	// The volume's usage: the sizes are checked against du in package volume; here, that they are there.
	if u := got.Usage; u == nil || !u.All || len(u.Projects) != 1 || u.Projects[0].Dir != "gh_binder-examples_requirements" || u.Projects[0].Bytes <= 0 || u.Size <= 0 {
		t.Errorf("the report's usage: %+v", u)
	}
	got.Usage = nil
	want := contract.Report{Deleted: []int{1}, Project: contract.ProjectSeeded, Update: &contract.UpdateReport{State: contract.UpdateNotNeeded}, TrashComplete: true, Present: true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the report (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(homeTree, readTree(t, filepath.Join(root, "gh_binder-examples_requirements"), 1000)); diff != "" {
		t.Errorf("the project is not the home (-home +project):\n%s", diff)
	}
	if _, err := os.Lstat(filepath.Join(root, "gh_old")); err == nil {
		t.Errorf("the queued project is still there")
	}
	if m, err := volume.ReadManifest(root, "gh_binder-examples_requirements"); err != nil || m == nil || m.Commit != "abc1234" || len(m.Entries) != 4 {
		t.Errorf("the manifest: %+v, %v", m, err)
	}

	// A bad input: status 2, the report says so, nothing changes.
	bad := append(append([]string{}, env...), contract.EnvProject+"=../escape")
	if code, out := run(bad); code != 2 || !strings.Contains(out, "BINDER_PROJECTS_PROJECT is not a valid project folder name") {
		t.Errorf("a bad project name: exit %d\n%s", code, out)
	}
	if got, err := contract.DecodeReport(string(readFile(t, report))); err != nil || got.Project != contract.ProjectFailed || !strings.HasSuffix(got.Error, "nothing was changed") {
		t.Errorf("the report of a bad input: %+v, %v", got, err)
	}
	// An argument: the inputs are environment variables only.
	if code, out := run(env, "--root", root); code != 2 || !strings.Contains(out, "the inputs are environment variables") {
		t.Errorf("an argument: exit %d\n%s", code, out)
	}
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
