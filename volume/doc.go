// Package volume owns the files of the user's volume: everything the project's init container does
// there, as the notebook's user, in the static binary (binder-projects init). The user owns the volume
// and can change anything between a look and an act, so the init command takes no path on the volume: a
// Dir is a folder held by its descriptor, every path beneath it is resolved without following a
// symbolic link, and an entry is moved or removed only if it is still the one looked at.
//
// # The init command
//
// Init (RunInit reads its inputs from the environment: EnvRoot, EnvProject, EnvSource, EnvDelete,
// EnvDeleteIDs, EnvPod, EnvCommit, EnvUpdate, EnvReport, EnvTrashDays, EnvRestore, EnvPurge,
// EnvUsageBudget) makes the launched project ready, in this order, and writes one JSON Report (the
// init container's termination message):
//
//  1. it checks every input, and changes nothing if one is bad (ExitBadInput); bad deletion ids, a
//     bad pod name, commit or update request, bad trash days, trash entries or usage budget are only
//     ignored, with a warning (in a way that loses nothing);
//  2. it removes what earlier starts provably left behind (below);
//  3. it makes way for the names it keeps at the volume root (SeedsDir, UpdatesDir, DoneDir, the
//     update lock, the project's manifest) where something else is there: what holds no data (a
//     link, a named pipe, a socket, a device, an empty file) is removed, never followed; anything
//     else is renamed to SetAsidePrefix + its name + ".<n>" (as updates set aside); a warning says what it was. A reserved folder this
//     user may not write turns updates off for the start, with a warning: never a reason to fail;
//  4. it finishes or rolls back an interrupted update of the project (Recover), and fails
//     (ExitFailed) only if an update's work folder of the project is there and cannot be dealt with;
//  5. it deletes the queued project folders, or moves them into the trash (below);
//  6. it puts back the trash entries of EnvRestore, deletes those of EnvPurge for good, and deletes
//     for good the entries older than EnvTrashDays (the trash, below);
//  7. it seeds the project from the image's home if nothing of its name exists (on a full volume,
//     deleting the oldest trash entries for good, one at a time, until it fits), or updates the
//     existing project to EnvCommit when EnvUpdate asks for it (Update). A failed update that left the
//     project as it was is a warning; one that could not be rolled back fails the start;
//  8. it measures the volume and its projects (usage.go), failed starts too.
//
// Names at the volume root: a start makes only reserved names there (they start with a dot, which no
// project folder name can), and touches nothing else but the named project folders: a user's own
// files at the root (migrated from plain JupyterHub) are never touched. init.sh (version 1,
// testdata/init-sh-v1.sh) used the same names and rules, so both run safely beside each other on one
// volume during a rolling upgrade, and each reads what the other left.
//
//	.binder-projects-new.[<pod>.]XXXXXX   a work folder being set up
//	.binder-projects-tmp.XXXXXX           a start's work folder, holding .lock, flocked while it runs
//	.binder-projects-tmp-unlocked.[<pod>.]XXXXXX  a start's work folder where flock(2) does not work
//	.binder-projects-deleted.<name>       a queued project folder being deleted (cut to 255 bytes)
//	.binder-projects-trash.XXXXXX         left by older versions of init.sh
//	.binder-projects-done/<name>          tombstones: the id of the latest deletion of <name>
//	.binder-projects-seeds/<name>         manifests (below); .binder-projects-updates: updates
//	.binder-projects-trash/<id>/<name>    the trash (contract.TrashFolder): deleted projects
//	.binder-projects-trash/<id>/.seed.<name>  and their manifests
//
// Leftovers: a start removes only what is provably dead. The lock rule: a start makes its work
// folder as .binder-projects-new.*, makes the lock file .lock in it, takes flock(2) on it (held until
// the start ends: the kernel drops a killed start's lock), and only then renames the folder to
// .binder-projects-tmp.*; another start removes such a folder only if it can take that lock without
// waiting (and holds it while removing). The pod rule: a start given its pod's name (EnvPod, at most
// 200 bytes) names its new and unlocked work folders with it, and removes at once those of its own
// pod's name (the part between the prefix and the last dot): the init containers of one pod run one
// after another, and a pod of a name is admitted only once the earlier one is gone. The 24-hour rule:
// other new, unlocked and trash folders, and work folders whose lock cannot be checked, are removed
// once they are more than 24 hours old. A .binder-projects-deleted.* folder is dead unless a start
// holds its lock (it is deleting it right now). An entry with a reserved prefix that is not a folder
// is removed (never opened). A leftover that cannot be removed is a warning; the next start tries
// again.
//
// Deletion needs no new space, so a full volume is still cleaned: a start takes flock(2) on the
// queued folder itself (a start that finds it held waits for that deletion to end, then looks again),
// renames it in place to .binder-projects-deleted.<name> (NOREPLACE), removes it through the
// descriptor it locked (read-only folders made writable first), and if some of it cannot be removed,
// renames what is left back: it stays queued (Report.Kept), with a warning. A queued name that is a
// link loses only the link; one that is not a folder is left alone. A deleted project's manifest is
// removed (under the update lock, never through a link; one moved into the trash takes it along, below)
// and its update's work folder discarded.
// Tombstones close the race of a start that seeds a project anew while another start was handed its
// deletion: for a deletion with an id, a start reads DoneDir/<name> on every look and last under the
// folder lock, just before the rename; if it holds the id or a larger one, the deletion was carried
// out already and what is there now is newer: it stays. Otherwise, once the folder is gone, the id is
// written there (a file of the start's work folder renamed over it), before the lock is released and
// before the launched project is seeded.
//
// The seed is an atomic copy: the image's home is copied like cp -a (copy.go: four workers; modes,
// owners where this user may, times, links as links, hard links kept; named pipes, sockets and
// devices skipped with a warning) into the start's private work folder, the manifest is hashed from
// the bytes written into that private copy and staged beside it, and the copy is renamed into place
// only if no entry of the project's name exists (renameat2 NOREPLACE: another start's project wins,
// and stays). Under the update lock, a stale manifest (of a project of that name deleted earlier) is
// removed first and the new one put in place right after the rename, so no update ever reads a
// manifest of another project of that name; a start killed between the two leaves the manifest in its
// work folder, and the start that removes that folder puts it in place if the project is still the
// folder it renamed (by its inode). A user's edit after the rename is never recorded as the image's.
// A start killed at any point leaves no project (the next start seeds it) or the whole one.
//
// # The trash
//
// With EnvTrashDays > 0 a queued deletion moves the folder to TrashFolder/<id>/<name> (the deletion's
// id; the start's own time for a deletion without one) by one rename, under the same flock and
// tombstones (a trash entry of the same deletion counts as its tombstone), checked by its inode after
// the rename (anything else goes back at once); an interrupted update of it is finished or rolled back
// first; a read-only folder of the user's is made writable for the move (its ".." changes) and given
// its mode back. A start killed at any point leaves it where it was or in the trash, whole. EnvRestore
// entries go back by NOREPLACE rename, under their own name or beside it as contract.RestoredName,
// recorded first in the id folder (.restored.<name>) so that a start handed the same restore after a
// kill reports where it went. The project's manifest travels with it (trashmanifest.go), so that a
// restored project is updated as one never deleted: right after the folder, it moves into the id
// folder (.seed.<name>), and back to SeedsDir/<as> right after a restore (a stale one of that name
// removed first, a newer one kept), each by one rename of the file looked at, under the update lock
// held across both moves; a start killed between the two leaves the project without a manifest (its
// first update counts every file as the user's), never with one of another project. EnvPurge
// entries, and entries older than EnvTrashDays by the start's clock (never while it is 0), are
// deleted for good by the deletion protocol (locked, renamed in place to .purging.<name>, checked,
// removed through the descriptor, put back if they cannot be), then their manifest (one whose project
// is gone otherwise, once no restore record younger than 24 hours names it). A seed that finds no
// space deletes the oldest trash entry for good and tries again; a queued folder that cannot go into
// a full volume's empty trash is deleted for good, as without the trash. The trash and its id folders
// are reserved names: anything there but a folder of this user's is set aside, never followed; at an
// entry's manifest name, anything but a file of this user's is removed (a link, a named pipe) or set
// aside, never followed or opened. docs/init.md has the whole account, and the usage rules
// (usage.go).
//
// # Updates
//
// Update brings a project folder to a newer commit of its repository without losing the user's work:
// a three-way merge of folder trees, with the record of what the project was seeded with (its
// manifest) as the common ancestor, the project folder as the user's side and the new image's home as
// the commit's side; docs/updates.md is the full account.
//
// The manifest (ManifestPath: <root>/.binder-projects-seeds/<project>) lists every file, folder and
// symbolic link the project got from the image: path, type, mode, size, the SHA-256 of a file's
// content, a link's target. Names may hold any byte but "/" and NUL: printable UTF-8 is written as it
// is and every other byte as %XX. It is written atomically (a new file in the same folder, synced,
// renamed) by Record right after a seed, and by Update once an update is complete.
//
// The rules, for each path, with "changed" meaning a different type, content (by SHA-256) or link
// target, and modes merged apart (below):
//
//   - same in the project and in the commit: nothing to do;
//   - the user never changed it (project = manifest): the commit's version wins: replaced, added,
//     removed (a file that became a folder, or the reverse, likewise);
//   - the commit never changed it (commit = manifest): the user's version (or deletion) stays;
//   - both changed it, differently: the user's version stays, and the commit's is written beside it as
//     name.<short commit>.ext (name.<short commit> without an extension, .bashrc.<short commit> for a
//     dotfile), or name.<short commit>-2.ext and so on if that name is in use; a file the user deleted
//     stays deleted; a file the user changed and the commit removed stays;
//   - folders in both are merged name by name; a folder the commit removed goes only once nothing the
//     user changed or added is left in it; a folder the user deleted stays deleted, but what the commit
//     adds in it (names the manifest does not have) is added, in the folder made again: otherwise it
//     could not be reached at all (the image's home is hidden under the project's mount);
//   - symbolic links are compared by their target text, never followed; named pipes, sockets, devices
//     and folders that cannot be listed count as the user's own and are never touched;
//   - modes are merged on their own: the commit's mode change is taken where the user kept the
//     manifest's mode, the user's is kept otherwise; a mode change alone is no conflict.
//
// Without a manifest (a project seeded before this package existed, or a manifest that cannot be
// read), every file counts as the user's own: the same content as the commit's is nothing to do (and
// is recorded as the base for the next update), different content is kept with the commit's version
// beside it, new files are added, and nothing is removed.
//
// Atomic and resumable: Update stages every new file in the project's work folder on the same volume
// (WorkPath: <root>/.binder-projects-updates/<project>/), writes the new manifest and a journal of
// renames there, then renames (the user's replaced and removed entries are moved aside into the work
// folder, not deleted), then moves the new manifest into place, then marks the journal done (a rename) and removes the
// work folder. A run killed before the journal exists changed nothing; one killed after it is rolled forward
// by the next Update or Recover (every step is idempotent). A step that fails rolls the update back
// (a "rollback" mark in the work folder makes a killed roll back continue as one). Content, types,
// link targets and modes are atomic this way; times of folders are not (a rename touches them). One
// lock per volume (<root>/.binder-projects-updates/.lock, flock(2)) serializes updates, recoveries and
// records of all projects on a volume.
//
// The user owns the volume and can change anything between the update's look and its act (a file
// saved meanwhile, a folder swapped for a symbolic link to another project; with named servers the
// project may be open while it is updated). So every path on the volume is resolved beneath the root
// by Dir, never following a symbolic link, and an entry of the user's is moved only if it is still
// the one planned: before the move its type, inode, size and modification time are checked; after
// the move into the work folder, it and everything below it are checked against the plan's marks
// (those, the SHA-256 where the plan hashed the file, a link's target, a folder's exact content).
// What is not the one planned goes back to its name at once (beside it, as name.restored-<short>.ext,
// if the name was taken meanwhile) and the update is rolled back: its error wraps ErrNotPlanned and
// names the entry; nothing of the user's is lost. A roll back takes back what it put in place only if
// it is still the staged entry and holds nothing but the commit's content; else that stays, as the
// user's, with a warning. An entry whose folder cannot be reached any more (a link now, or gone) is
// kept at the top of the project, with a warning. Mode changes act on the planned inode only. The
// journal (version 2) holds each step's marks, so that a recovery checks as the first run did; a
// journal of version 1, which has none, is only ever rolled back.
//
// The reserved names (SeedsDir, UpdatesDir, its lock, a work folder, a manifest) are never followed
// or opened blocking, and trusted only as the folder or file of this user that binder-projects makes
// there: anything else is set aside (renamed to SetAsidePrefix + its name + ".<n>", with a warning
// that says what it was) and made anew, so that a start is never blocked, except SeedsDir (an update
// or a record is refused, with the fix) and a work folder of another user holding a journal, alone or
// in an UpdatesDir of another user (that project's recovery is refused: it may be part-way through an
// update this user can neither finish nor roll back; the other projects start).
package volume
