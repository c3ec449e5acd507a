package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/binder-projects/binder-projects/patch"
)

// installHelper copies this binary (/proc/self/exe) into the folder --to as patch.HelperBinaryName,
// mode 0755, atomically (a temporary file in that folder, synced, renamed): the helper's init
// container runs it, from our image, which has no shell, to hand the binary to the project's init
// container through an emptyDir.
func installHelper(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("install-helper", flag.ContinueOnError)
	fs.SetOutput(stderr)
	to := fs.String("to", "", "the folder to copy the binary into (an emptyDir shared with the project's init container)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *to == "" || fs.NArg() > 0 || !filepath.IsAbs(*to) {
		fmt.Fprintln(stderr, "binder-projects install-helper: give the folder with --to DIR (an absolute path)")
		return 2
	}
	dst := filepath.Join(*to, patch.HelperBinaryName)
	n, err := copyExecutable("/proc/self/exe", dst)
	if err != nil {
		fmt.Fprintf(stderr, "binder-projects: error: cannot install the helper into %s: %v\n", *to, err)
		return 1
	}
	fmt.Fprintf(stdout, "installed %s (%d bytes)\n", dst, n)
	return 0
}

// copyExecutable copies src to dst with mode 0755 through a temporary file in dst's folder, synced
// before it is renamed into place, so dst is either absent, the old file or the whole new one.
func copyExecutable(src, dst string) (n int64, err error) {
	in, err := os.Open(src)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".install-*")
	if err != nil {
		return 0, err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if n, err = io.Copy(tmp, in); err != nil {
		return 0, err
	}
	if err = tmp.Chmod(0o755); err != nil {
		return 0, err
	}
	if err = tmp.Sync(); err != nil {
		return 0, err
	}
	if err = tmp.Close(); err != nil {
		return 0, err
	}
	if err = os.Rename(tmp.Name(), dst); err != nil {
		return 0, err
	}
	return n, nil
}
