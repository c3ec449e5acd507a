//go:build linux

package volume

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// The user owns the volume and can change anything between our look and our act: a folder swapped for
// a symbolic link to another project, a file saved (a new inode renamed over the old one) while an
// update runs. So nothing here takes a path. A Dir is a folder held open by its descriptor; every
// operation names one entry directly in it; a path beneath it is resolved by OpenPath without following
// any symbolic link (openat2 with RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS, or, where the kernel or a seccomp
// profile lacks openat2, a walk of O_NOFOLLOW|O_DIRECTORY descriptors). Whatever is moved or removed is
// checked against its Stamp first, or moved into a private folder and checked there (see apply.go).

// ErrLink says a symbolic link stood where a folder was expected: it was not followed.
var ErrLink = errors.New("a symbolic link is in the way (not followed)")

// ErrNotPlanned says an entry is not the one planned: the user changed it meanwhile; it was left alone.
var ErrNotPlanned = errors.New("changed since it was looked at (left as it is)")

// noOpenat2 makes OpenPath walk descriptors instead of calling openat2: set once openat2 is found
// missing, and by tests, which run both ways.
var noOpenat2 atomic.Bool

// Dir is a folder on the volume, held open by its descriptor.
type Dir struct {
	f *os.File
	// Rel is its path beneath the volume root ("" for the root itself), for messages only.
	Rel string
}

// OpenRoot opens the volume's root (the operator's path: links in it are followed).
func OpenRoot(path string) (*Dir, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	return &Dir{f: os.NewFile(uintptr(fd), path)}, nil
}

// Fd is the folder's descriptor.
func (d *Dir) Fd() int { return int(d.f.Fd()) }

// Close releases the descriptor (and any flock taken on it).
func (d *Dir) Close() error { return d.f.Close() }

func (d *Dir) join(name string) string {
	if d.Rel == "" {
		return name
	}
	return d.Rel + "/" + name
}

// checkName refuses what is not one entry's name.
func checkName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
		return fmt.Errorf("%q is not the name of an entry", name)
	}
	return nil
}

func pathErr(op, path string, err error) error {
	if errors.Is(err, unix.ELOOP) {
		err = ErrLink
	}
	return &fs.PathError{Op: op, Path: path, Err: err}
}

// OpenDir opens the folder name directly in d, never following a symbolic link (ErrLink) and never
// blocking.
func (d *Dir) OpenDir(name string) (*Dir, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	fd, err := unix.Openat(d.Fd(), name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ENOTDIR) {
			if st, serr := d.Stat(name); serr == nil && st.Mode&fs.ModeSymlink != 0 {
				err = unix.ELOOP
			}
		}
		return nil, pathErr("open", d.join(name), err)
	}
	return &Dir{f: os.NewFile(uintptr(fd), d.join(name)), Rel: d.join(name)}, nil
}

// OpenPath opens the folder at rel (slash-separated names; "" is d itself, opened again) beneath d,
// never following a symbolic link in any of its parts.
func (d *Dir) OpenPath(rel string) (*Dir, error) {
	if rel == "" {
		fd, err := unix.Openat(d.Fd(), ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, pathErr("open", d.Rel, err)
		}
		return &Dir{f: os.NewFile(uintptr(fd), d.Rel), Rel: d.Rel}, nil
	}
	parts := strings.Split(rel, "/")
	for _, p := range parts {
		if err := checkName(p); err != nil {
			return nil, fmt.Errorf("%q: %w", rel, err)
		}
	}
	if !noOpenat2.Load() {
		fd, err := unix.Openat2(d.Fd(), rel, &unix.OpenHow{
			Flags:   unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_NONBLOCK | unix.O_CLOEXEC,
			Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
		})
		switch {
		case err == nil:
			return &Dir{f: os.NewFile(uintptr(fd), d.join(rel)), Rel: d.join(rel)}, nil
		case errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EPERM) && fd == -1 && seccompDenied(d):
			noOpenat2.Store(true)
		case errors.Is(err, unix.ELOOP), errors.Is(err, unix.ENOTDIR), errors.Is(err, unix.ENOENT):
			// A link, a file or nothing in one of the parts: the walk below (which never follows a
			// link either) says which part, for the message.
		default:
			return nil, pathErr("open", d.join(rel), err)
		}
	}
	cur := d
	for _, p := range parts {
		next, err := cur.OpenDir(p)
		if cur != d {
			cur.Close()
		}
		if err != nil {
			return nil, err
		}
		cur = next
	}
	return cur, nil
}

// seccompDenied tells an EPERM of a seccomp profile that refuses openat2 from a real permission
// error: openat2 of "." is refused only by the former.
func seccompDenied(d *Dir) bool {
	fd, err := unix.Openat2(d.Fd(), ".", &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC})
	if err == nil {
		unix.Close(fd)
		return false
	}
	return true
}

// OpenParent opens the folder that holds rel beneath d (as OpenPath) and returns it with rel's last name.
func (d *Dir) OpenParent(rel string) (*Dir, string, error) {
	parent, name := "", rel
	if i := strings.LastIndexByte(rel, '/'); i >= 0 {
		parent, name = rel[:i], rel[i+1:]
	}
	if err := checkName(name); err != nil {
		return nil, "", fmt.Errorf("%q: %w", rel, err)
	}
	p, err := d.OpenPath(parent)
	if err != nil {
		return nil, "", err
	}
	return p, name, nil
}

// Stamp is what identifies an entry as the one looked at: its type and permissions, inode, size and
// modification time (a save by rename makes a new inode; a save in place a new size or time).
type Stamp struct {
	Mode  fs.FileMode
	Dev   uint64
	Ino   uint64
	Size  int64
	Mtime int64 // nanoseconds since the epoch
	Nlink uint64
	Uid   uint32
}

// Same reports whether s and o are the same entry, unchanged: type, inode, size and modification time.
func (s Stamp) Same(o Stamp) bool {
	return s.Mode.Type() == o.Mode.Type() && s.Dev == o.Dev && s.Ino == o.Ino && s.Size == o.Size && s.Mtime == o.Mtime
}

// Kind names the entry's type for messages.
func (s Stamp) Kind() string { return typeWord(s.Mode) }

func stampOf(st *unix.Stat_t) Stamp {
	m := fs.FileMode(st.Mode & 0o777)
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		m |= fs.ModeDir
	case unix.S_IFLNK:
		m |= fs.ModeSymlink
	case unix.S_IFIFO:
		m |= fs.ModeNamedPipe
	case unix.S_IFSOCK:
		m |= fs.ModeSocket
	case unix.S_IFCHR:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		m |= fs.ModeDevice
	}
	if st.Mode&unix.S_ISUID != 0 {
		m |= fs.ModeSetuid
	}
	if st.Mode&unix.S_ISGID != 0 {
		m |= fs.ModeSetgid
	}
	if st.Mode&unix.S_ISVTX != 0 {
		m |= fs.ModeSticky
	}
	return Stamp{Mode: m, Dev: uint64(st.Dev), Ino: st.Ino, Size: st.Size, Mtime: st.Mtim.Nano(), Nlink: uint64(st.Nlink), Uid: st.Uid}
}

// Stat is name's Stamp, the entry itself (a link is not followed). A missing entry's error is
// fs.ErrNotExist.
func (d *Dir) Stat(name string) (Stamp, error) {
	if err := checkName(name); err != nil {
		return Stamp{}, err
	}
	var st unix.Stat_t
	if err := unix.Fstatat(d.Fd(), name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return Stamp{}, pathErr("lstat", d.join(name), err)
	}
	return stampOf(&st), nil
}

// Self is the Stamp of the folder d holds open.
func (d *Dir) Self() (Stamp, error) {
	var st unix.Stat_t
	if err := unix.Fstat(d.Fd(), &st); err != nil {
		return Stamp{}, pathErr("fstat", d.Rel, err)
	}
	return stampOf(&st), nil
}

// Exists reports whether d has an entry name (of any type).
func (d *Dir) Exists(name string) bool {
	_, err := d.Stat(name)
	return err == nil
}

// Rename moves name in d to toName in to, never replacing what is there (fs.ErrExist).
func (d *Dir) Rename(name string, to *Dir, toName string) error {
	if err := checkName(name); err != nil {
		return err
	}
	if err := checkName(toName); err != nil {
		return err
	}
	err := unix.Renameat2(d.Fd(), name, to.Fd(), toName, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EINVAL) {
		// No renameat2 here (or not on this file system): check, then rename.
		if to.Exists(toName) {
			err = unix.EEXIST
		} else {
			err = unix.Renameat(d.Fd(), name, to.Fd(), toName)
		}
	}
	if err != nil {
		return &os.LinkError{Op: "rename", Old: d.join(name), New: to.join(toName), Err: err}
	}
	return nil
}

// Replace moves name in d to toName in to, replacing a file there (for our own files: manifests,
// tombstones).
func (d *Dir) Replace(name string, to *Dir, toName string) error {
	if err := checkName(name); err != nil {
		return err
	}
	if err := checkName(toName); err != nil {
		return err
	}
	if err := unix.Renameat(d.Fd(), name, to.Fd(), toName); err != nil {
		return &os.LinkError{Op: "rename", Old: d.join(name), New: to.join(toName), Err: err}
	}
	return nil
}

// Mkdir makes the folder name in d.
func (d *Dir) Mkdir(name string, perm fs.FileMode) error {
	if err := checkName(name); err != nil {
		return err
	}
	if err := unix.Mkdirat(d.Fd(), name, uint32(perm.Perm())); err != nil {
		return pathErr("mkdir", d.join(name), err)
	}
	return nil
}

// Symlink makes the symbolic link name in d, pointing at target.
func (d *Dir) Symlink(target, name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	if err := unix.Symlinkat(target, d.Fd(), name); err != nil {
		return pathErr("symlink", d.join(name), err)
	}
	return nil
}

// Readlink is the target of the symbolic link name in d.
func (d *Dir) Readlink(name string) (string, error) {
	if err := checkName(name); err != nil {
		return "", err
	}
	for size := 256; ; size *= 2 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(d.Fd(), name, buf)
		if err != nil {
			return "", pathErr("readlink", d.join(name), err)
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
}

// Chmod sets the mode of name in d, which must not be a symbolic link (it is never followed).
func (d *Dir) Chmod(name string, mode fs.FileMode) error {
	if err := checkName(name); err != nil {
		return err
	}
	bits := modeBits(mode) & 0o7777
	err := unix.Fchmodat(d.Fd(), name, bits, unix.AT_SYMLINK_NOFOLLOW)
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOTSUP) {
		// No fchmodat2: the entry by an O_PATH descriptor, checked not to be a link, then its
		// /proc/self/fd name (which chmod resolves to that very inode).
		var fd int
		fd, err = unix.Openat(d.Fd(), name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err == nil {
			var st unix.Stat_t
			if err = unix.Fstat(fd, &st); err == nil {
				if st.Mode&unix.S_IFMT == unix.S_IFLNK {
					err = unix.ELOOP
				} else {
					err = unix.Chmod("/proc/self/fd/"+strconv.Itoa(fd), bits)
				}
			}
			unix.Close(fd)
		}
	}
	if err != nil {
		return pathErr("chmod", d.join(name), err)
	}
	return nil
}

// ChmodIf sets the mode of name in d only if it is an entry that is accepts (by its Stamp): the entry is
// held by an O_PATH descriptor, checked, then changed through that descriptor, so that an entry put at
// name meanwhile is never changed. A refused entry's error wraps ErrNotPlanned; a symbolic link's,
// ErrLink.
func (d *Dir) ChmodIf(name string, mode fs.FileMode, is func(Stamp) bool) error {
	if err := checkName(name); err != nil {
		return err
	}
	fd, err := unix.Openat(d.Fd(), name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return pathErr("chmod", d.join(name), err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return pathErr("chmod", d.join(name), err)
	}
	s := stampOf(&st)
	switch {
	case s.Mode&fs.ModeSymlink != 0:
		return pathErr("chmod", d.join(name), unix.ELOOP)
	case !is(s):
		return pathErr("chmod", d.join(name), ErrNotPlanned)
	}
	bits := modeBits(mode) & 0o7777
	err = unix.Chmod("/proc/self/fd/"+strconv.Itoa(fd), bits)
	if errors.Is(err, unix.ENOENT) {
		// No /proc: by name, never following a link (the entry was checked a moment ago).
		err = d.Chmod(name, mode)
	}
	if err != nil {
		return pathErr("chmod", d.join(name), err)
	}
	return nil
}

// Writable says whether this user may add and remove entries in the folder d holds (access(2) with
// the effective ids); nil if so.
func (d *Dir) Writable() error {
	if err := unix.Faccessat(d.Fd(), ".", unix.W_OK|unix.X_OK, unix.AT_EACCESS); err != nil {
		return pathErr("access", d.Rel, err)
	}
	return nil
}

// Statfs describes the file system d is on.
func (d *Dir) Statfs() (unix.Statfs_t, error) {
	var st unix.Statfs_t
	err := unix.Fstatfs(d.Fd(), &st)
	return st, err
}

// SetMtime sets the access and modification times of name in d (nanoseconds since the epoch), never
// following a link.
func (d *Dir) SetMtime(name string, mtime int64) error {
	if err := checkName(name); err != nil {
		return err
	}
	ts := unix.NsecToTimespec(mtime)
	if err := unix.UtimesNanoAt(d.Fd(), name, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return pathErr("utimes", d.join(name), err)
	}
	return nil
}

// OpenFile opens the regular file name in d for reading, never following a link and never blocking on
// a named pipe; anything but a regular file is refused. The Stamp is the open file's.
func (d *Dir) OpenFile(name string) (*os.File, Stamp, error) {
	if err := checkName(name); err != nil {
		return nil, Stamp{}, err
	}
	fd, err := unix.Openat(d.Fd(), name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, Stamp{}, pathErr("open", d.join(name), err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, Stamp{}, pathErr("fstat", d.join(name), err)
	}
	s := stampOf(&st)
	if !s.Mode.IsRegular() {
		unix.Close(fd)
		return nil, s, pathErr("open", d.join(name), fmt.Errorf("it is a %s, not a file", s.Kind()))
	}
	// Reads of a regular file never block; clear O_NONBLOCK for the sake of tidiness.
	_ = unix.SetNonblock(fd, false)
	return os.NewFile(uintptr(fd), d.join(name)), s, nil
}

// CreateFile makes the new regular file name in d (never an existing entry, never through a link).
func (d *Dir) CreateFile(name string, perm fs.FileMode) (*os.File, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	fd, err := unix.Openat(d.Fd(), name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, uint32(perm.Perm()))
	if err != nil {
		return nil, pathErr("create", d.join(name), err)
	}
	return os.NewFile(uintptr(fd), d.join(name)), nil
}

// ReadFile reads the regular file name in d (see OpenFile), at most limit bytes.
func (d *Dir) ReadFile(name string, limit int64) ([]byte, error) {
	f, _, err := d.OpenFile(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", d.join(name), limit)
	}
	return data, nil
}

// Names lists the entries of d (without . and ..), in the order the file system gives them.
func (d *Dir) Names() ([]string, error) {
	f, err := d.OpenPath("")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.f.Readdirnames(-1)
	if err != nil {
		return nil, pathErr("readdir", d.Rel, err)
	}
	return names, nil
}

// Sync flushes the folder's entries to the disk.
func (d *Dir) Sync() error { return d.f.Sync() }

// TryLock takes flock(2) on the folder's descriptor without waiting: false if another holds it.
func (d *Dir) TryLock() (bool, error) { return flockTry(d.Fd()) }

// Lock takes flock(2) on the folder's descriptor, waiting for another holder.
func (d *Dir) Lock() error { return flockWait(d.Fd()) }

// flockTry takes flock(2) on fd without waiting: false if another holds it.
func flockTry(fd int) (bool, error) {
	for {
		err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, unix.EWOULDBLOCK):
			return false, nil
		case errors.Is(err, unix.EINTR):
			continue
		}
		return false, err
	}
}

// flockWait takes flock(2) on fd, waiting for another holder.
func flockWait(fd int) error {
	for {
		err := unix.Flock(fd, unix.LOCK_EX)
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

// Remove removes name in d if it is not a folder, or an empty folder.
func (d *Dir) Remove(name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	err := unix.Unlinkat(d.Fd(), name, 0)
	if errors.Is(err, unix.EISDIR) || errors.Is(err, unix.EPERM) {
		if st, serr := d.Stat(name); serr == nil && st.Mode.IsDir() {
			err = unix.Unlinkat(d.Fd(), name, unix.AT_REMOVEDIR)
		}
	}
	if err != nil {
		return pathErr("remove", d.join(name), err)
	}
	return nil
}

// RemoveAll removes name in d and everything below it, never following a symbolic link; folders this
// user owns but may not write or list are made so first. What another run removes meanwhile counts as
// removed. A missing name is removed already.
func (d *Dir) RemoveAll(name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	st, err := d.Stat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !st.Mode.IsDir() {
		if err := unix.Unlinkat(d.Fd(), name, 0); err != nil && !errors.Is(err, unix.ENOENT) {
			return pathErr("remove", d.join(name), err)
		}
		return nil
	}
	sub, err := d.OpenDir(name)
	if errors.Is(err, unix.EACCES) || errors.Is(err, fs.ErrPermission) {
		_ = d.Chmod(name, 0o700)
		sub, err = d.OpenDir(name)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer sub.Close()
	names, err := sub.f.Readdirnames(-1)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return pathErr("readdir", sub.Rel, err)
	}
	var first error
	madeWritable := false
	for _, n := range names {
		err := sub.RemoveAll(n)
		if err != nil && !madeWritable && (errors.Is(err, unix.EACCES) || errors.Is(err, fs.ErrPermission)) {
			madeWritable = true
			if unix.Fchmod(sub.Fd(), 0o700) == nil {
				err = sub.RemoveAll(n)
			}
		}
		if err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		return first
	}
	if err := unix.Unlinkat(d.Fd(), name, unix.AT_REMOVEDIR); err != nil && !errors.Is(err, unix.ENOENT) {
		return pathErr("remove", d.join(name), err)
	}
	return nil
}
