package projects

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/binder-projects/binder-projects/contract"
)

// The recently deleted projects (Registry.Trash) and what is asked of them (Restores, Purges). A
// record is named by its deletion queue entry, as the volume's trash entry is
// (contract.TrashEntryOf(contract.TrashID(entry), dir)); restore and purge requests name records so.

// ErrNotInTrash: the entry names none of the user's recently deleted projects.
var ErrNotInTrash = errors.New("no such project in the trash")

// FindTrashed returns the index in Trash of the record named by entry (its deletion), or -1.
func (r Registry) FindTrashed(entry Queued) int {
	return slices.IndexFunc(r.Trash, func(t Trashed) bool { return t.Entry().Same(entry) })
}

// RequestRestore asks for the recently deleted project named by entry back. A deletion still queued
// (its folder not moved yet) is simply taken back (Unqueue): the project is recorded again now, and
// back is true. A start admitted before now may have been handed that deletion, and then moves the
// folder into the trash all the same: the project remembers the deletion (DeletionTakenBack), so that
// Observed puts the folder back if a report shows it went. Otherwise the entry waits in Restores for
// the next init container (a request already waiting stays as it is), and a purge asked for it is
// dropped: the last request wins, and the two are never handed together.
func (r *Registry) RequestRestore(entry Queued) (back bool, err error) {
	i := r.FindTrashed(entry)
	if i < 0 {
		return false, fmt.Errorf("%w: %s", ErrNotInTrash, contract.TrashEntryName(contract.TrashID(entry), entry.Dir))
	}
	if slices.ContainsFunc(r.Deletions, entry.Same) {
		r.Unqueue(entry, r.Trash[i].Project)
		if j := r.Find(entry.Dir); j >= 0 {
			r.Projects[j].DeletionTakenBack = &entry
		}
		return true, nil
	}
	r.Purges = slices.DeleteFunc(r.Purges, entry.Same)
	if !slices.ContainsFunc(r.Restores, entry.Same) {
		r.Restores = append(r.Restores, entry)
	}
	return false, nil
}

// RequestPurge asks for the recently deleted project named by entry to be deleted for good by the
// next init container: it waits in Purges (a request already waiting stays as it is), and a restore
// asked for it is dropped (the last request wins).
func (r *Registry) RequestPurge(entry Queued) error {
	if r.FindTrashed(entry) < 0 {
		return fmt.Errorf("%w: %s", ErrNotInTrash, contract.TrashEntryName(contract.TrashID(entry), entry.Dir))
	}
	r.Restores = slices.DeleteFunc(r.Restores, entry.Same)
	if !slices.ContainsFunc(r.Purges, entry.Same) {
		r.Purges = append(r.Purges, entry)
	}
	return nil
}

// trash keeps t in Trash, oldest first, in place of a record of the same deletion.
func (r *Registry) trash(t Trashed) {
	if i := r.FindTrashed(t.Entry()); i >= 0 {
		r.Trash[i] = t
		return
	}
	r.Trash = append(r.Trash, t)
	slices.SortStableFunc(r.Trash, func(a, b Trashed) int {
		return cmp.Or(a.DeletedAt.Compare(b.DeletedAt), cmp.Compare(a.Dir, b.Dir))
	})
}

// untrash takes the record named by entry off Trash, with the requests for it.
func (r *Registry) untrash(entry Queued) {
	r.Trash = slices.DeleteFunc(r.Trash, func(t Trashed) bool { return t.Entry().Same(entry) })
	r.Restores = slices.DeleteFunc(r.Restores, entry.Same)
	r.Purges = slices.DeleteFunc(r.Purges, entry.Same)
}

// Observation is what one init container's run tells the registry beyond the launch itself (Record,
// Deleted, UpdateRan, Launched, which come first): the restores and purges it did, what the trash
// holds, and the volume's usage.
type Observation struct {
	// Report is the init container's report.
	Report contract.Report
	// Restores and Purges are the entries of those queues that were handed to the init container
	// (contract.HandedRestores, contract.HandedPurges), in their order in EnvRestore and EnvPurge: the
	// report names them by position.
	Restores, Purges []Queued
	// Capacity is the claim's capacity in bytes, 0 when unknown: on a filesystem far larger than it
	// (shared, as NFS), Usage is counted against it (UsageClaim).
	Capacity int64
	// At is when the init container finished.
	At time.Time
}

// Restore is a trash entry an init container put back (Report.Restored): the deletion that named it,
// and the project folder it is now (its own name, or contract.RestoredName where that was taken).
type Restore struct {
	Entry Queued
	As    contract.ProjectDir
}

// sharedFilesystemFactor: a filesystem more than this many times the claim's capacity is taken to be
// shared (NFS, a share of many claims), its size and free space not the user's.
const sharedFilesystemFactor = 2

// Observed records what an init container reported (o). It returns the restores it did, and the
// deletions taken back that a start carried out all the same, whose folders it queued to come back.
//
//   - A handed restore reported Restored leaves Restores and Trash, and the project is recorded again
//     under the folder it went to: its record as it was, Dir the new folder (a record of that folder
//     used more recently, such as the launch that took its name, is kept). A restore neither queued
//     nor in Trash any more was observed already, and is not recorded again. The project of that
//     name forgets the deletion if it remembered it as taken back: its folder is back.
//   - A handed purge reported Purged leaves Purges and Trash.
//   - Each entry the report's trash list holds is InTrash, with its size (when measured); an entry
//     without a record gets one of its folder alone, so that it can be restored or purged. But when
//     a recorded project of that folder remembers exactly that deletion as taken back
//     (DeletionTakenBack), a start that was handed the deletion before it was taken back moved the
//     folder: the record is the project's, and its restore is queued (Restores), so that the next
//     start puts the folder back, before a launch of the project would seed it anew. The project
//     stays recorded meanwhile, and keeps the deletion until the folder is back.
//   - When the trash list is complete (TrashComplete), a record it does not hold is gone: InTrash, it
//     expired or was purged; pending, once its deletion is no longer queued (done, not kept), the
//     folder was deleted at once (trash days 0). A pending record whose deletion is still queued stays,
//     and so does every record while the deletion queue did not parse (its deletions are unknown).
//     Likewise a project forgets a deletion taken back that the list does not hold: the start handed
//     it did not move the folder, or the folder is back.
//   - With a usage: each measured project's Size, and Usage {size, free, at} from the filesystem; on
//     a filesystem more than sharedFilesystemFactor times the claim's capacity, the claim's capacity
//     and what the projects and the trash take of it instead (UsageClaim).
//   - Restore and purge requests whose record is gone leave their queues.
//   - A report that ended before the usage recorded (At before Usage.At: read again as its pod's
//     status changes, or recorded after a later start's) has only its restores and purges recorded: what
//     it saw of the trash and the volume is older than what the registry holds.
func (r *Registry) Observed(o Observation) (restored []Restore, carriedOut []Queued) {
	rep := o.Report
	for _, rs := range rep.Restored {
		if rs.At < 1 || rs.At > len(o.Restores) {
			continue
		}
		entry := o.Restores[rs.At-1]
		p := Project{Dir: entry.Dir}
		if i := r.FindTrashed(entry); i >= 0 {
			p = r.Trash[i].Project
		} else if !slices.ContainsFunc(r.Restores, entry.Same) {
			// Observed already (a pod's later status carries the same report): recording it again
			// would bring back a project deleted since.
			continue
		}
		p.Dir = rs.As
		r.untrash(entry)
		r.Record(p)
		if j := r.Find(entry.Dir); j >= 0 && r.Projects[j].tookBack(entry) {
			r.Projects[j].DeletionTakenBack = nil
		}
		restored = append(restored, Restore{Entry: entry, As: rs.As})
	}
	for _, at := range rep.Purged {
		if at >= 1 && at <= len(o.Purges) {
			r.untrash(o.Purges[at-1])
		}
	}

	if r.Usage != nil && o.At.Before(r.Usage.At) {
		// What the trash and the volume held is older than what the registry knows from a later
		// start (this pod's report read again as its status changes, or a start that ended before
		// another's report was recorded): it would bring back, for a while, the records of entries
		// restored or purged since, and sizes since changed.
		r.dropSettled()
		return restored, carriedOut
	}

	listed := map[string]bool{}
	for _, t := range rep.Trash {
		entry := contract.TrashEntryOf(t.ID, t.Dir)
		listed[contract.TrashEntryName(t.ID, t.Dir)] = true
		i := r.FindTrashed(entry)
		if i < 0 {
			rec := Trashed{Project: Project{Dir: t.Dir}, DeletedAt: entry.QueuedAt}
			if j := r.Find(t.Dir); j >= 0 && r.Projects[j].tookBack(entry) {
				// A start handed the deletion before the restore took it back moved the folder all
				// the same: the user sees the project, but its files are here until it comes back.
				rec.Project = r.Projects[j]
				rec.DeletionTakenBack = nil
				if !slices.ContainsFunc(r.Restores, entry.Same) {
					r.Restores = append(r.Restores, entry)
				}
				carriedOut = append(carriedOut, entry)
			}
			r.trash(rec)
			i = r.FindTrashed(entry)
		}
		r.Trash[i].InTrash = true
		if t.Bytes >= 0 {
			r.Trash[i].Size = &Size{Bytes: t.Bytes, At: o.At}
		}
	}
	if _, corrupt := r.Corrupt[AnnotationDeleteQueue]; rep.TrashComplete && !corrupt {
		r.Trash = slices.DeleteFunc(r.Trash, func(t Trashed) bool {
			if listed[contract.TrashEntryName(contract.TrashID(t.Entry()), t.Dir)] {
				return false
			}
			return t.InTrash || !slices.ContainsFunc(r.Deletions, t.Entry().Same)
		})
		// A deletion taken back whose folder the trash does not hold: the start handed it did not
		// move the folder, or the folder is back. (A start that has it and has not reached it yet, as
		// this one listed the trash, is not told apart: it would leave its folder in the trash, as
		// before the deletion was remembered.)
		for i, p := range r.Projects {
			if back := p.DeletionTakenBack; back != nil && !listed[contract.TrashEntryName(contract.TrashID(*back), back.Dir)] &&
				!slices.ContainsFunc(r.Deletions, back.Same) {
				r.Projects[i].DeletionTakenBack = nil
			}
		}
	}
	r.dropSettled()

	if u := rep.Usage; u != nil {
		for _, m := range u.Projects {
			if i := r.Find(m.Dir); i >= 0 && m.Bytes >= 0 {
				r.Projects[i].Size = &Size{Bytes: m.Bytes, At: o.At}
			}
		}
		r.Usage = &Usage{Size: u.Size, Free: u.Free, At: o.At, Basis: UsageFilesystem}
		if o.Capacity > 0 && u.Size-o.Capacity > (sharedFilesystemFactor-1)*o.Capacity {
			r.Usage = &Usage{Size: o.Capacity, Free: max(0, min(o.Capacity-r.Taken(), u.Free)), At: o.At, Basis: UsageClaim}
		}
	}
	return restored, carriedOut
}

// dropSettled drops the restore and purge requests whose record is gone.
func (r *Registry) dropSettled() {
	r.Restores = slices.DeleteFunc(r.Restores, func(q Queued) bool { return r.FindTrashed(q) < 0 })
	r.Purges = slices.DeleteFunc(r.Purges, func(q Queued) bool { return r.FindTrashed(q) < 0 })
}

// Taken is what the projects and the trash take of the volume, in bytes, as last measured (a folder
// never measured counts as nothing).
func (r Registry) Taken() int64 {
	var n int64
	for _, f := range r.Largest(-1) {
		n += f.Bytes
	}
	return n
}

// Folder is a folder on the user's volume and what it takes, as last measured: a project, or a
// recently deleted one in the trash (Trashed, named by its deletion).
type Folder struct {
	Dir     contract.ProjectDir
	Bytes   int64
	Trashed *Queued
}

// Largest are the n measured folders (projects, and deleted ones in the trash) that take the most,
// largest first (n < 0: all of them).
func (r Registry) Largest(n int) []Folder {
	var fs []Folder
	for _, p := range r.Projects {
		if p.Size != nil {
			fs = append(fs, Folder{Dir: p.Dir, Bytes: p.Size.Bytes})
		}
	}
	for _, t := range r.Trash {
		if t.InTrash && t.Size != nil {
			e := t.Entry()
			fs = append(fs, Folder{Dir: t.Dir, Bytes: t.Size.Bytes, Trashed: &e})
		}
	}
	slices.SortStableFunc(fs, func(a, b Folder) int { return cmp.Compare(b.Bytes, a.Bytes) })
	if n >= 0 && len(fs) > n {
		fs = fs[:n]
	}
	return fs
}
