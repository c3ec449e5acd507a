//go:build linux

package volume

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The seed's copy: the image's home into a new folder on the volume, as cp -a copies it (modes,
// owners where this user may set them, access and modification times, symbolic links as links, hard
// links between files of the home kept as hard links where it can, named pipes, sockets and devices
// skipped with a warning), with a few workers copying files at once: a home of many small files costs
// system calls, which the workers overlap. One goroutine walks the home and makes the folders (so
// that every folder exists before anything is put in it); the workers copy files and make links; a
// folder gets its mode, owner and times once everything in it is done (so that a read-only folder is
// filled first, and its time is not changed after). Everything is done through descriptors: a folder
// of the copy is opened (never through a link) when it is made, and each file is made in it by name.
//
// With hashing on, each file's SHA-256 is taken from the very bytes written into the copy, and the
// copy's entries (with the modes as set) are returned: the project's manifest, taken before the copy
// is renamed into the user's view.

// copyWorkers is how many goroutines copy files at once.
const copyWorkers = 4

// copyBuffer is each worker's buffer.
const copyBuffer = 256 << 10

// copyResult is what a copy made.
type copyResult struct {
	Files, Dirs, Links, HardLinks int
	Bytes                         int64
	// Blocks is the disk the copy takes, in bytes (st_blocks*512 of every entry it made, the top
	// folder too, a file of several names once): du -s -B1 of the copy, read as each entry was made.
	Blocks int64
	// Entries are the copy's entries, sorted by path (only when hashing).
	Entries []Entry
	// Warnings are the entries of the home that were not copied (named pipes, sockets, devices).
	Warnings []string
}

// copyDir is one folder being copied: its source and its copy, held open until everything in it is
// done.
type copyDir struct {
	src     *os.File // the home's folder (listed)
	sfd     int      // its descriptor
	dst     int      // the copy's folder
	rel     string   // path below the copy's top; "" for the top
	parent  *copyDir
	pending atomic.Int64 // entries not done yet, plus one held by the walk while it lists the folder
}

type copyJob struct {
	dir  *copyDir
	name string
	typ  fs.FileMode
}

// hardLink is a file of the home with more than one name, as copied the first time.
type hardLink struct {
	ready chan struct{} // closed once the first copy is complete
	fd    int           // a descriptor of the first copy, or -1
	entry Entry
}

type copier struct {
	hash    bool
	root    bool // running as root: owners are copied
	gid     int
	umask   int // the process's umask, or -1 if unknown
	jobs    chan copyJob
	workers sync.WaitGroup
	failed  atomic.Bool
	errOnce sync.Once
	err     error
	mu      sync.Mutex // the fields below
	res     copyResult
	hardMu  sync.Mutex
	hard    map[[2]uint64]*hardLink
	keptFds int
	blocks  atomic.Int64 // copyResult.Blocks
}

// maxKeptFds bounds the descriptors kept open to make hard links.
const maxKeptFds = 512

// copyTree copies the folder src (the image's home) into the new folder name in dst, and returns what
// it copied. On an error the copy is partial: the caller removes it.
func copyTree(src *Dir, dst *Dir, name string, hashFiles bool) (*copyResult, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	if err := unix.Mkdirat(dst.Fd(), name, 0o700); err != nil {
		return nil, pathErr("mkdir", dst.join(name), err)
	}
	dfd, err := unix.Openat(dst.Fd(), name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, pathErr("open", dst.join(name), err)
	}
	sfd, err := unix.Openat(src.Fd(), ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		unix.Close(dfd)
		return nil, fmt.Errorf("the image's home: %w", err)
	}
	c := &copier{
		hash:  hashFiles,
		root:  os.Geteuid() == 0,
		gid:   os.Getegid(),
		jobs:  make(chan copyJob, 256),
		hard:  map[[2]uint64]*hardLink{},
		umask: processUmask(),
	}
	top := &copyDir{src: os.NewFile(uintptr(sfd), "."), sfd: sfd, dst: dfd}
	top.pending.Store(1)
	for range copyWorkers {
		c.workers.Add(1)
		go c.work()
	}
	c.walk(top)
	close(c.jobs)
	c.workers.Wait()
	for _, h := range c.hard {
		if h.fd >= 0 {
			unix.Close(h.fd)
		}
	}
	if c.err != nil {
		return nil, c.err
	}
	c.res.Blocks = c.blocks.Load()
	if hashFiles {
		slices.SortFunc(c.res.Entries, func(a, b Entry) int { return strings.Compare(a.Path, b.Path) })
	}
	return &c.res, nil
}

func (c *copier) fail(err error) {
	c.errOnce.Do(func() {
		c.err = err
		c.failed.Store(true)
	})
}

func (c *copier) warn(msg string) {
	c.mu.Lock()
	c.res.Warnings = append(c.res.Warnings, msg)
	c.mu.Unlock()
}

func (c *copier) record(e Entry, bytes int64, linked bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch e.Type {
	case TypeFile:
		c.res.Files++
		c.res.Bytes += bytes
		if linked {
			c.res.HardLinks++
		}
	case TypeDir:
		c.res.Dirs++
	case TypeSymlink:
		c.res.Links++
	}
	if c.hash {
		c.res.Entries = append(c.res.Entries, e)
	}
}

// walk lists the folder d of the home, makes its subfolders in the copy and walks them, and hands its
// other entries to the workers. It runs in one goroutine (crash points are counted there).
func (c *copier) walk(d *copyDir) {
	defer c.done(d)
	des, err := d.src.ReadDir(-1)
	if err != nil {
		c.fail(fmt.Errorf("cannot list %s in the image's home: %w", showRel(d.rel), unwrapPath(err)))
		return
	}
	for _, de := range des {
		if c.failed.Load() {
			return
		}
		name := de.Name()
		if de.IsDir() {
			sub, err := c.openDir(d, name)
			if err != nil {
				c.fail(err)
				return
			}
			d.pending.Add(1)
			c.walk(sub)
			continue
		}
		d.pending.Add(1)
		c.jobs <- copyJob{dir: d, name: name, typ: de.Type()}
	}
	crashPoint()
}

// openDir opens the home's folder name in d and makes its copy.
func (c *copier) openDir(d *copyDir, name string) (*copyDir, error) {
	rel := joinPath(d.rel, name)
	sfd, err := unix.Openat(d.sfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("cannot read folder %s of the image's home: %w", showRel(rel), err)
	}
	if err := unix.Mkdirat(d.dst, name, 0o700); err != nil {
		unix.Close(sfd)
		return nil, fmt.Errorf("cannot make folder %s: %w", showRel(rel), err)
	}
	dfd, err := unix.Openat(d.dst, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		unix.Close(sfd)
		return nil, fmt.Errorf("cannot open folder %s of the copy: %w", showRel(rel), err)
	}
	sub := &copyDir{src: os.NewFile(uintptr(sfd), rel), sfd: sfd, dst: dfd, rel: rel, parent: d}
	sub.pending.Store(1) // the walk's hold, until it has listed the folder
	return sub, nil
}

// done marks one entry of d done; the last one finishes d (its mode, owner and times), and so on up.
func (c *copier) done(d *copyDir) {
	for d != nil && d.pending.Add(-1) == 0 {
		if err := c.finishDir(d); err != nil {
			c.fail(err)
		}
		d = d.parent
	}
}

func (c *copier) finishDir(d *copyDir) error {
	defer d.src.Close()
	defer unix.Close(d.dst)
	if c.failed.Load() {
		return nil
	}
	var st unix.Stat_t
	if err := unix.Fstat(d.sfd, &st); err != nil {
		return fmt.Errorf("cannot read folder %s of the image's home: %w", showRel(d.rel), err)
	}
	if err := c.setMeta(d.dst, &st, true); err != nil {
		return fmt.Errorf("cannot set the mode, owner or times of folder %s: %w", showRel(d.rel), err)
	}
	var own unix.Stat_t
	if err := unix.Fstat(d.dst, &own); err == nil {
		c.blocks.Add(own.Blocks * 512)
	}
	mode, err := c.modeSet(d.dst, &st)
	if err != nil {
		return err
	}
	if d.rel == "" {
		return nil // the top is the project folder itself: not an entry
	}
	c.record(Entry{Path: d.rel, Type: TypeDir, Mode: mode}, 0, false)
	return nil
}

// modeSet is the mode the copy fd has now: the source's, unless it has setuid or setgid bits, which
// the kernel may have dropped (then it is read back).
func (c *copier) modeSet(fd int, src *unix.Stat_t) (fs.FileMode, error) {
	if src.Mode&(unix.S_ISUID|unix.S_ISGID) == 0 {
		return fromModeBits(src.Mode & 0o7777), nil
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, err
	}
	return fromModeBits(st.Mode & 0o7777), nil
}

// setMeta gives the copy fd the owner (where this user may), mode (if chmod) and times of src.
func (c *copier) setMeta(fd int, st *unix.Stat_t, chmod bool) error {
	if c.root {
		if err := unix.Fchown(fd, int(st.Uid), int(st.Gid)); err != nil {
			return err
		}
	} else if int(st.Gid) != c.gid {
		// As cp -a does for a user: the group, if this user is in it; the owner cannot be given away.
		_ = unix.Fchown(fd, -1, int(st.Gid))
	}
	if chmod {
		if err := unix.Fchmod(fd, st.Mode&0o7777); err != nil {
			return err
		}
	}
	return futimens(fd, st.Atim, st.Mtim)
}

// processUmask is the process's umask, from /proc/self/status (reading it with umask(2) would change
// it for an instant); -1 if it cannot be read.
func processUmask() int {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "Umask:"); ok {
			if n, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32); err == nil {
				return int(n)
			}
		}
	}
	return -1
}

// futimens sets the access and modification times of the file fd (utimensat with no path).
func futimens(fd int, atime, mtime unix.Timespec) error {
	ts := [2]unix.Timespec{atime, mtime}
	_, _, e := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

func (c *copier) work() {
	defer c.workers.Done()
	buf := make([]byte, copyBuffer)
	var h hash.Hash
	if c.hash {
		h = sha256.New()
	}
	for j := range c.jobs {
		if !c.failed.Load() {
			var err error
			switch {
			case j.typ.IsRegular():
				err = c.copyFile(j, buf, h)
			case j.typ&fs.ModeSymlink != 0:
				err = c.copyLink(j)
			default:
				c.warn(fmt.Sprintf("the image's home: %s is a %s; it was not copied", showRel(joinPath(j.dir.rel, j.name)), typeWord(j.typ)))
			}
			if err != nil {
				c.fail(err)
			}
		}
		c.done(j.dir)
	}
}

func (c *copier) copyFile(j copyJob, buf []byte, h hash.Hash) error {
	rel := joinPath(j.dir.rel, j.name)
	sfd, err := unix.Openat(j.dir.sfd, j.name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
	if err != nil {
		return fmt.Errorf("cannot read %s in the image's home: %w", showRel(rel), err)
	}
	defer unix.Close(sfd)
	var st unix.Stat_t
	if err := unix.Fstat(sfd, &st); err != nil {
		return fmt.Errorf("cannot read %s in the image's home: %w", showRel(rel), err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return fmt.Errorf("%s in the image's home changed while it was copied", showRel(rel))
	}
	var first *hardLink
	if st.Nlink > 1 {
		key := [2]uint64{uint64(st.Dev), st.Ino}
		c.hardMu.Lock()
		hl, seen := c.hard[key]
		if !seen {
			hl = &hardLink{ready: make(chan struct{}), fd: -1}
			c.hard[key] = hl
			first = hl
		}
		c.hardMu.Unlock()
		if seen {
			// The first copy is being made by another worker, which waits for nothing (it is the
			// first of its inode): wait for it, then link to it. Where linking fails (no /proc),
			// this name gets a copy of its own, of the same content.
			<-hl.ready
			if hl.fd >= 0 && unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(hl.fd), j.dir.dst, j.name, unix.AT_SYMLINK_FOLLOW) == nil {
				e := hl.entry
				e.Path = rel
				c.record(e, 0, true)
				return nil
			}
		} else {
			defer close(first.ready)
		}
	}
	// Made with its mode where the umask keeps it (the folder is private until it is renamed into
	// view), which saves a chmod; else private, and given its mode once written.
	perm, modeDone := uint32(0o600), false
	if c.umask >= 0 && st.Mode&uint32(c.umask) == 0 && st.Mode&(unix.S_ISUID|unix.S_ISGID|unix.S_ISVTX) == 0 {
		perm, modeDone = st.Mode&0o777, true
	}
	dfd, err := unix.Openat(j.dir.dst, j.name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, perm)
	if err != nil {
		return fmt.Errorf("cannot create %s: %w", showRel(rel), err)
	}
	closed := false
	defer func() {
		if !closed {
			unix.Close(dfd)
		}
	}()
	n, sum, err := copyData(sfd, dfd, st.Size, buf, h)
	if err != nil {
		return fmt.Errorf("cannot copy %s: %w", showRel(rel), err)
	}
	if err := c.setMeta(dfd, &st, !modeDone); err != nil {
		return fmt.Errorf("cannot set the mode, owner or times of %s: %w", showRel(rel), err)
	}
	mode, err := c.modeSet(dfd, &st)
	if err != nil {
		return err
	}
	e := Entry{Path: rel, Type: TypeFile, Mode: mode, Size: n, SHA256: sum}
	if first != nil {
		c.hardMu.Lock()
		if c.keptFds < maxKeptFds {
			if kept, err := unix.Dup(dfd); err == nil {
				unix.CloseOnExec(kept)
				first.fd = kept
				c.keptFds++
			}
		}
		c.hardMu.Unlock()
		first.entry = e
	}
	closed = true
	if err := unix.Close(dfd); err != nil {
		return fmt.Errorf("cannot write %s: %w", showRel(rel), err)
	}
	c.allocated(j.dir.dst, j.name)
	c.record(e, n, false)
	return nil
}

// copyData copies the file sfd (size bytes, as it was looked at) into dfd. With h, it reads and
// writes through buf, hashing what it writes; without, the kernel copies (copy_file_range), or, where
// it cannot, buf.
func copyData(sfd, dfd int, size int64, buf []byte, h hash.Hash) (int64, string, error) {
	var n int64
	if h == nil {
		for n < size {
			w, err := unix.CopyFileRange(sfd, nil, dfd, nil, int(min(size-n, 1<<30)), 0)
			if err != nil {
				if n == 0 && (errors.Is(err, unix.EXDEV) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EBADF)) {
					break // not here: through the buffer
				}
				if errors.Is(err, unix.EINTR) {
					continue
				}
				return n, "", err
			}
			if w == 0 {
				return n, "", nil // shorter than it was: the end
			}
			n += int64(w)
		}
		if n >= size {
			return n, "", nil
		}
	} else {
		h.Reset()
	}
	for {
		r, err := unix.Read(sfd, buf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return n, "", err
		}
		if r == 0 {
			break
		}
		for off := 0; off < r; {
			w, err := unix.Write(dfd, buf[off:r])
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil {
				return n, "", err
			}
			off += w
		}
		if h != nil {
			h.Write(buf[:r])
		}
		n += int64(r)
		if n >= size && r < len(buf) {
			break // read what was there; a short read is the end
		}
	}
	if h == nil {
		return n, "", nil
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

func (c *copier) copyLink(j copyJob) error {
	rel := joinPath(j.dir.rel, j.name)
	sfd := j.dir.sfd
	var st unix.Stat_t
	if err := unix.Fstatat(sfd, j.name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("cannot read link %s in the image's home: %w", showRel(rel), err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFLNK {
		return fmt.Errorf("%s in the image's home changed while it was copied", showRel(rel))
	}
	target, err := readlinkAt(sfd, j.name)
	if err != nil {
		return fmt.Errorf("cannot read link %s in the image's home: %w", showRel(rel), err)
	}
	if err := unix.Symlinkat(target, j.dir.dst, j.name); err != nil {
		return fmt.Errorf("cannot make link %s: %w", showRel(rel), err)
	}
	if c.root {
		if err := unix.Fchownat(j.dir.dst, j.name, int(st.Uid), int(st.Gid), unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("cannot set the owner of link %s: %w", showRel(rel), err)
		}
	} else if int(st.Gid) != c.gid {
		_ = unix.Fchownat(j.dir.dst, j.name, -1, int(st.Gid), unix.AT_SYMLINK_NOFOLLOW)
	}
	// A link's times, as cp -a keeps them (some file systems have none to set: not an error).
	_ = unix.UtimesNanoAt(j.dir.dst, j.name, []unix.Timespec{st.Atim, st.Mtim}, unix.AT_SYMLINK_NOFOLLOW)
	c.allocated(j.dir.dst, j.name)
	c.record(Entry{Path: rel, Type: TypeSymlink, Target: target}, 0, false)
	return nil
}

// allocated adds the disk the entry name of the copy's folder dirfd takes (after it was closed: some
// file systems give back what they reserved ahead on close).
func (c *copier) allocated(dirfd int, name string) {
	if n, err := allocated(dirfd, name); err == nil {
		c.blocks.Add(n)
	}
}

// allocated is the disk the entry name in the folder dirfd takes itself, in bytes (st_blocks*512; a
// link is not followed).
func allocated(dirfd int, name string) (int64, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return 0, err
	}
	return st.Blocks * 512, nil
}

// readlinkAt is the target of the symbolic link name in the folder fd.
func readlinkAt(fd int, name string) (string, error) {
	for size := 256; ; size *= 2 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(fd, name, buf)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
}

// showRel names a path of the copy in a message ("the top" for the top itself).
func showRel(rel string) string {
	if rel == "" {
		return "the top folder"
	}
	return show(rel)
}
