// Package volume owns the files of the user's volume. Its update engine brings a project folder to a
// newer commit of its repository without losing the user's work: a three-way merge of folder trees, with the record of what the project was seeded with
// (its manifest) as the common ancestor, the project folder as the user's side and the new image's
// home as the commit's side. It runs inside the project's init container, as the notebook's user, in
// the static binary (binder-projects seeded, update, recover); docs/updates.md is the full account.
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
// folder, not deleted), then moves the new manifest into place, then marks the journal done (a rename)
// and removes the work folder. A run killed before the journal exists changed nothing; one killed
// after it is rolled forward by the next Update or Recover (every step is idempotent). A step that
// fails rolls the update back (a "rollback" mark in the work folder makes a killed roll back continue
// as one). Content, types, link targets and modes are atomic this way; times of folders are not (a
// rename touches them). One lock per volume (<root>/.binder-projects-updates/.lock, flock(2))
// serializes updates, recoveries and records of all projects on a volume.
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
