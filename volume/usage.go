//go:build linux

package volume

import (
	"errors"
	"math/rand/v2"
	"os"
	"slices"
	"time"

	"github.com/binder-projects/binder-projects/contract"
	"golang.org/x/sys/unix"
)

// What the volume holds, measured at the end of every start (Report.Usage, Report.Trash): the file
// system's size and free space (statfs), and the disk each project folder and trash entry takes, as
// du -s -B1 counts it: st_blocks*512 of every entry (the folder itself too), from lstat, never
// following a link, a file of several names (hard links) counted once in each folder measured. The
// project seeded at this start is measured by its copy (copyResult.Blocks) and one updated at this
// start by a whole walk; the others are walked within EnvUsageBudget, in name order from a random
// project on (wrapping around), so that over starts each is reached about as often as the others,
// whatever their sizes; then the trash entries, likewise, with what is left of the budget. A folder
// the budget does not reach, or whose walk it cuts short, is not reported (the registry keeps its last
// size); nor is one that cannot be read whole.

// errBudget says the usage budget ran out before a folder was measured.
var errBudget = errors.New("the usage budget ran out")

// sizeWalk measures folders until its deadline (zero: none).
type sizeWalk struct {
	deadline time.Time
	steps    int
	links    map[[2]uint64]bool
}

// size is the disk the entry name in the folder dirfd takes, with everything below it.
func (w *sizeWalk) size(dirfd int, name string) (int64, error) {
	w.links = map[[2]uint64]bool{}
	return w.entry(dirfd, name)
}

func (w *sizeWalk) entry(dirfd int, name string) (int64, error) {
	if w.steps++; w.steps%64 == 0 && !w.deadline.IsZero() && time.Now().After(w.deadline) {
		return 0, errBudget
	}
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return 0, err
	}
	n := st.Blocks * 512
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		if st.Nlink > 1 {
			key := [2]uint64{uint64(st.Dev), st.Ino}
			if w.links[key] {
				return 0, nil
			}
			w.links[key] = true
		}
		return n, nil
	}
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return 0, err
	}
	for _, c := range names {
		m, err := w.entry(fd, c)
		if errors.Is(err, unix.ENOENT) {
			continue // removed meanwhile
		}
		if err != nil {
			return 0, err
		}
		n += m
	}
	return n, nil
}

// rotated is items in their order, from a random one on, wrapping around.
func rotated[T any](items []T) []T {
	if len(items) < 2 {
		return items
	}
	i := rand.IntN(len(items))
	return append(slices.Clone(items[i:]), items[:i]...)
}

// measureExact measures the launched project as it is now, whole (it was updated at this start).
func (s *initRun) measureExact() {
	p := s.in.Project
	n, err := (&sizeWalk{}).size(s.root.Fd(), p)
	if err != nil {
		s.logf("could not measure project %s (%v)", p, unwrapPath(err))
		return
	}
	s.sized(n)
}

// sized records n as the exact size of the launched project.
func (s *initRun) sized(n int64) {
	if dir, err := contract.ParseProjectDir(s.in.Project); err == nil {
		s.exact = &contract.Measured{Dir: dir, Bytes: n}
	}
}

// projectFolders are the folders at the volume root that may be projects (a valid project folder
// name; never a link), by name.
func (s *initRun) projectFolders() ([]contract.ProjectDir, error) {
	names, err := s.root.Names()
	if err != nil {
		return nil, err
	}
	var out []contract.ProjectDir
	for _, n := range names {
		dir, err := contract.ParseProjectDir(n)
		if st, serr := s.root.Stat(n); err == nil && serr == nil && st.Mode.IsDir() {
			out = append(out, dir)
		}
	}
	slices.Sort(out)
	return out, nil
}

// measure fills the report's Usage and Trash (see above). It runs at the end of every start that
// could open the volume, failed ones too.
func (s *initRun) measure() {
	st, err := s.root.Statfs()
	if err != nil {
		s.logf("cannot measure the volume (%v)", err)
		return
	}
	unit := uint64(st.Frsize) // what df counts the blocks in; f_bsize where it is not set
	if unit == 0 {
		unit = uint64(st.Bsize)
	}
	u := &contract.Usage{Size: int64(st.Blocks * unit), Free: int64(st.Bavail * unit)}
	began := time.Now()
	walk := &sizeWalk{deadline: began.Add(s.in.UsageBudget)}
	left := func() bool { return s.in.UsageBudget > 0 && time.Now().Before(walk.deadline) }

	projects, err := s.projectFolders()
	if err != nil {
		s.logf("cannot list the volume root to measure the projects (%v)", unwrapPath(err))
	}
	var others []contract.ProjectDir
	for _, p := range projects {
		if s.exact != nil && p == s.exact.Dir {
			u.Projects = append(u.Projects, *s.exact)
		} else {
			others = append(others, p)
		}
	}
	for _, p := range rotated(others) {
		if !left() {
			break
		}
		n, err := walk.size(s.root.Fd(), string(p))
		if errors.Is(err, errBudget) {
			break
		}
		if err != nil {
			s.logf("could not measure project %s (%v); it is not reported", p, err)
			continue
		}
		u.Projects = append(u.Projects, contract.Measured{Dir: p, Bytes: n})
	}
	u.All = err == nil && len(u.Projects) == len(projects)

	entries, complete := s.listTrash()
	trash := make([]contract.Trashed, len(entries))
	order := make([]int, len(entries))
	for i, e := range entries {
		trash[i] = contract.Trashed{ID: e.id, Dir: e.dir, Bytes: -1}
		order[i] = i
	}
	sized := 0
	if len(entries) > 0 && left() {
		if t, err := s.root.OpenDir(contract.TrashFolder); err == nil {
			for _, i := range rotated(order) {
				if !left() {
					break
				}
				n, err := s.entrySize(t, entries[i], walk)
				if errors.Is(err, errBudget) {
					break
				}
				if err == nil {
					trash[i].Bytes = n
					sized++
				}
			}
			t.Close()
		}
	}
	s.rep.Usage, s.rep.Trash, s.rep.TrashComplete = u, trash, complete
	s.logf("the volume: %s free of %s; %d of %d project folders and %d of %d trash entries measured (%d ms)",
		sizeText(u.Free), sizeText(u.Size), len(u.Projects), len(projects), sized, len(entries), time.Since(began).Milliseconds())
}

// entrySize measures the trash entry e (in the trash t).
func (s *initRun) entrySize(t *Dir, e trashEntry, walk *sizeWalk) (int64, error) {
	idDir, err := t.OpenDir(e.idName())
	if err != nil {
		return 0, err
	}
	defer idDir.Close()
	return walk.size(idDir.Fd(), e.name())
}
