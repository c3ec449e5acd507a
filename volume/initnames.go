//go:build linux

package volume

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// Names the init command reserves at the volume root. They all start with a dot, which no project
// folder name can; init.sh (version 1) used the same names, so that both run safely side by side on
// one volume during a rolling upgrade.
const (
	// newPrefix + XXXXXX: a work folder being set up (its lock file made and taken), a second or so.
	newPrefix = ".binder-projects-new."
	// tmpPrefix + XXXXXX: a start's work folder, holding its lock file (workLock), flocked while the
	// start runs (the lock rule).
	tmpPrefix = ".binder-projects-tmp."
	// unlockedPrefix + [<pod>.]XXXXXX: a start's work folder where flock(2) does not work.
	unlockedPrefix = ".binder-projects-tmp-unlocked."
	// trashPrefix + XXXXXX: left by older versions of init.sh.
	trashPrefix = ".binder-projects-trash."
	// deletedPrefix + <name>: a queued project folder being deleted (deletedName).
	deletedPrefix = ".binder-projects-deleted."
	// DoneDir holds the tombstones: DoneDir/<name> is the id of the latest deletion of <name> carried
	// out. Never a leftover, never removed.
	DoneDir = ".binder-projects-done"
	// workLock is the lock file in a work folder.
	workLock = ".lock"
	// updatesLock is the volume's update lock, UpdatesDir/.lock (apply.go takes it by path).
	updatesLock = ".lock"
)

// leftoverPrefixes are the prefixes of the names of folders a start may leave behind, in the order a
// start looks at them.
var leftoverPrefixes = []string{tmpPrefix, newPrefix, unlockedPrefix, trashPrefix, deletedPrefix}

// suffixLetters are the letters of a work folder's random suffix (as mktemp's XXXXXX: never a dot, so
// that a name can be read from its end).
const suffixLetters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// randomSuffix is six random letters and digits.
func randomSuffix() string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	for i := range b {
		b[i] = suffixLetters[int(b[i])%len(suffixLetters)]
	}
	return string(b)
}

// deletedName is the reserved name a queued project folder is renamed to while it is deleted: the
// name cut to 230 bytes, so that the whole fits in 255 (exactly as init.sh cuts it, so that both
// versions wait for each other's deletions).
func deletedName(name string) string {
	if len(deletedPrefix)+len(name) > 255 {
		name = name[:230]
	}
	return deletedPrefix + name
}

// ---- locks: flock(2) on a descriptor ----

// TestNoFlockEnv (test hook): BINDER_PROJECTS_INIT_TEST_NO_FLOCK=1 makes every flock(2) the init
// command takes itself fail with ENOLCK, as on a volume where flock does not work (some network file
// systems). Nothing but the tests sets it.
const TestNoFlockEnv = "BINDER_PROJECTS_INIT_TEST_NO_FLOCK"

var noFlock = sync.OnceValue(func() bool { return os.Getenv(TestNoFlockEnv) == "1" })

// tryLockFd takes flock(2) on fd without waiting: false if another holds it; an error if flock does
// not work here (or the test hook TestNoFlockEnv says so).
func tryLockFd(fd int) (bool, error) {
	if noFlock() {
		return false, unix.ENOLCK
	}
	return flockTry(fd)
}

// lockFd takes flock(2) on fd, waiting for another holder.
func lockFd(fd int) error {
	if noFlock() {
		return unix.ENOLCK
	}
	return flockWait(fd)
}

// openLockFile opens the regular file name in d to lock it, making it if create and it is missing:
// never through a symbolic link, never blocking on a named pipe, never anything but a regular file.
func openLockFile(d *Dir, name string, create bool) (*os.File, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	flags := unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_NONBLOCK | unix.O_CLOEXEC | unix.O_NOCTTY
	if create {
		flags |= unix.O_CREAT
	}
	fd, err := unix.Openat(d.Fd(), name, flags, 0o644)
	if err != nil {
		return nil, pathErr("open", d.join(name), err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, pathErr("fstat", d.join(name), err)
	}
	if s := stampOf(&st); !s.Mode.IsRegular() {
		unix.Close(fd)
		return nil, pathErr("open", d.join(name), fmt.Errorf("it is a %s, not a file", s.Kind()))
	}
	return os.NewFile(uintptr(fd), d.join(name)), nil
}

// statFollow is the Stamp of what name in d leads to, a symbolic link followed (only to tell whether a
// project folder that is a link leads to a folder; nothing is opened).
func statFollow(d *Dir, name string) (Stamp, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(d.Fd(), name, &st, 0); err != nil {
		return Stamp{}, pathErr("stat", d.join(name), err)
	}
	return stampOf(&st), nil
}

// sameInode reports whether two stamps are of one inode (a folder's time and size change as it is
// emptied).
func sameInode(a, b Stamp) bool { return a.Dev == b.Dev && a.Ino == b.Ino }

// ---- reserved names that must be folders (or files) of ours ----

// makeWay makes name in d free for what binder-projects keeps there (wantDir: a folder; else a
// regular file), when something else is there: what holds no data (a symbolic link, whose target is
// never touched, a named pipe, a socket, a device, an empty file) is removed; anything else (a file
// with data where a folder belongs, a folder where a file belongs) is renamed beside it, to
// a set-aside name (setAsideName: SetAsidePrefix, the name, .<n>, as the update engine sets aside), and kept. It returns "" if name was fine (missing, or of the wanted type),
// else what it did, for a warning; an error if it could not make way.
func makeWay(d *Dir, name string, wantDir bool) (string, error) {
	st, err := d.Stat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if (wantDir && st.Mode.IsDir()) || (!wantDir && st.Mode.IsRegular()) {
		return "", nil
	}
	kind := st.Kind()
	if !st.Mode.IsDir() && !(st.Mode.IsRegular() && st.Size > 0) {
		if err := d.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("%s is a %s, and cannot be removed: %w", d.join(name), kind, unwrapPath(err))
		}
		what := "removed"
		if kind == "symbolic link" {
			what = "removed (not what it points to)"
		}
		return fmt.Sprintf("%s was a %s, not a %s; it was %s", d.join(name), kind, wantWord(wantDir), what), nil
	}
	for n := 1; n <= 10; n++ {
		aside := setAsideName(name, n)
		err := d.Rename(name, d, aside)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("%s is a %s, and cannot be set aside: %w", d.join(name), kind, unwrapPath(err))
		}
		return fmt.Sprintf("%s was a %s, not a %s; it was renamed to %s", d.join(name), kind, wantWord(wantDir), d.join(aside)), nil
	}
	return "", fmt.Errorf("%s is a %s, and no free name was found to set it aside", d.join(name), kind)
}

func wantWord(dir bool) string {
	if dir {
		return "folder"
	}
	return "file"
}

// ensureDir opens the reserved folder name in d, making it if it is missing (and make), never through
// a link.
func ensureDir(d *Dir, name string, make bool) (*Dir, error) {
	sub, err := d.OpenDir(name)
	if errors.Is(err, fs.ErrNotExist) && make {
		if err = d.Mkdir(name, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
		sub, err = d.OpenDir(name)
	}
	return sub, err
}

// updatesLockHeld is the volume's update lock (UpdatesDir/.lock), taken by the init command itself
// around a seed's rename and the removal of a deleted project's manifest, so that no update (which
// holds it while it runs) reads a manifest of another project of that name.
type updatesLockHeld struct{ f *os.File }

func (l *updatesLockHeld) release() {
	if l != nil && l.f != nil {
		l.f.Close()
	}
}

// lockUpdates takes the volume's update lock, waiting for an update that runs, making UpdatesDir and
// the lock file if they are missing. An error says it could not be taken.
func lockUpdates(root *Dir) (*updatesLockHeld, error) {
	ud, err := ensureDir(root, UpdatesDir, true)
	if err != nil {
		return nil, err
	}
	defer ud.Close()
	f, err := openLockFile(ud, updatesLock, true)
	if err != nil {
		return nil, err
	}
	if err := lockFd(int(f.Fd())); err != nil {
		f.Close()
		return nil, fmt.Errorf("flock %s/%s: %w", UpdatesDir, updatesLock, err)
	}
	return &updatesLockHeld{f: f}, nil
}

// ---- how full the volume is ----

// volumeUsage says how full the file system of d is, as df -Pk would: "1020 MiB of 1024 MiB used
// (100%)", and the KiB available to this user.
func volumeUsage(d *Dir) (usage string, availKiB uint64, err error) {
	var st unix.Statfs_t
	if err := unix.Fstatfs(d.Fd(), &st); err != nil {
		return "", 0, err
	}
	bsize := uint64(st.Bsize)
	used := (st.Blocks - st.Bfree) * bsize / 1024
	avail := st.Bavail * bsize / 1024
	total := used + avail
	if total == 0 {
		return "", 0, errors.New("a file system of no size")
	}
	pct := (used*100 + total - 1) / total
	unit, div := "GiB", uint64(1<<20)
	switch {
	case total < 1024:
		unit, div = "KiB", 1
	case total < 10<<20:
		unit, div = "MiB", 1024
	}
	return fmt.Sprintf("%d %s of %d %s used (%d%%)", used/div, unit, total/div, unit, pct), avail, nil
}

// isFull reports whether err (of a write on d's file system) or the file system itself says the
// volume is full, and says how full it is.
func isFull(d *Dir, err error) (bool, string) {
	full := "the volume is full"
	usage, avail, uerr := volumeUsage(d)
	if uerr == nil {
		full += ": " + usage
		if avail == 0 {
			return true, full
		}
	}
	return errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT), full
}
