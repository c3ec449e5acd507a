package contract

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// A trash entry on the volume is TrashFolder/<id>/<dir>: <id> is when the project was deleted, in
// Unix nanoseconds (the deletion queue entry's QueuedAt: so a trash entry is named by the QueueEntry
// of its deletion), and <dir> the project's folder, moved there by rename.

// TrashEntryName is the name EnvRestore and EnvPurge give a trash entry: "<id>/<dir>".
func TrashEntryName(id int64, dir ProjectDir) string {
	return strconv.FormatInt(id, 10) + "/" + string(dir)
}

// ParseTrashEntryName reads TrashEntryName's form, checking both parts.
func ParseTrashEntryName(s string) (id int64, dir ProjectDir, err error) {
	idText, name, ok := strings.Cut(s, "/")
	if !ok {
		return 0, "", fmt.Errorf("trash entry %q is not <id>/<folder>", s)
	}
	id, err = strconv.ParseInt(idText, 10, 64)
	if err != nil || id <= 0 || idText != strconv.FormatInt(id, 10) {
		return 0, "", fmt.Errorf("trash entry %q: the id must be a positive decimal number", s)
	}
	if dir, err = ParseProjectDir(name); err != nil {
		return 0, "", fmt.Errorf("trash entry %q: %w", s, err)
	}
	return id, dir, nil
}

// TrashID is the id of the trash entry a deletion queue entry makes.
func TrashID(q QueueEntry) int64 { return q.QueuedAt.UnixNano() }

// TrashEntryOf is the deletion queue entry that made the trash entry id/dir (its key).
func TrashEntryOf(id int64, dir ProjectDir) QueueEntry {
	return QueueEntry{Dir: dir, QueuedAt: time.Unix(0, id).UTC()}
}

// RestoredName is the folder a trash entry is restored to when its own name is taken: dir, cut to
// leave room, "-restored-" and the deletion's date and time (UTC, to the second; the id's last digits
// when two would be alike). It is a valid ProjectDir.
func RestoredName(dir ProjectDir, id int64) ProjectDir {
	suffix := "-restored-" + time.Unix(0, id).UTC().Format("20060102-150405")
	if ns := id % int64(time.Second); ns != 0 {
		suffix += "-" + strconv.FormatInt(ns, 10)
	}
	name := string(dir)
	if keep := MaxProjectDirLen - len(suffix); len(name) > keep {
		name = name[:keep]
	}
	return ProjectDir(name + suffix)
}
