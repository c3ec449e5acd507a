#!/bin/sh
# binder-projects init container script (POSIX sh: dash, bash, busybox ash).
#
# Runs in the project's own image, as the notebook's user, with the user's volume mounted at
# $BINDER_PROJECTS_ROOT. It
#   1. checks every input (and refuses to do anything if one is bad; bad deletion ids or a bad pod name
#      are only ignored, with a warning),
#   2. removes what earlier runs of this script provably left behind (see "Leftovers" below),
#   3. deletes the project folders queued in $BINDER_PROJECTS_DELETE, needing no free space for it,
#   4. seeds the project folder $BINDER_PROJECTS_PROJECT from the image's home $BINDER_PROJECTS_SOURCE,
#      only if no entry of that name exists, by copying into a private work folder on the volume and
#      renaming the copy into place, so a killed copy never looks like a complete project,
#   5. with the helper (see "The helper" below): finishes or rolls back an interrupted update of the
#      project before anything else touches it, records what a new project was seeded with, and
#      updates an existing project to the image's commit when an update is asked for,
#   6. writes a report for the controller to $BINDER_PROJECTS_REPORT, if set.
#
# Inputs come only from the environment, never from the script text:
#   BINDER_PROJECTS_ROOT     absolute path where the user's volume is mounted, e.g. /projects
#   BINDER_PROJECTS_PROJECT  the project folder name
#   BINDER_PROJECTS_SOURCE   absolute path of the image's home to seed from, e.g. /home/jovyan; if it is
#                            not a folder in the image, the project is seeded empty, with a warning
#   BINDER_PROJECTS_DELETE   project folder names to delete first, separated by spaces, tabs or
#                            newlines; may be empty or unset
#   BINDER_PROJECTS_REPORT   absolute path of the report file (in a pod: /dev/termination-log); may be
#                            empty or unset (no report)
#   BINDER_PROJECTS_DELETE_IDS  the id of each deletion in BINDER_PROJECTS_DELETE, in the same order,
#                            separated by spaces, tabs or newlines: 1 to 19 decimal digits, at most
#                            2^63-1 (the registry queue entry's time in Unix ns); 0 for none. May be
#                            unset (an older webhook): no ids. If it is set but has another count than
#                            BINDER_PROJECTS_DELETE, or a bad id, it is ignored, with a warning (never
#                            a refusal). See "Tombstones" below.
#   BINDER_PROJECTS_POD      the pod's name, 1 to 253 of [a-z0-9.-], not starting with a dot; may be
#                            empty or unset. A bad one is ignored, with a warning. See the pod rule below.
#   BINDER_PROJECTS_HELPER   absolute path of our static binary (binder-projects: inside our image,
#                            mounted read-only as an image volume, or copied into a shared emptyDir by
#                            an init container before this one); may be empty or unset. If it is not
#                            an executable file, it is not used (a log line says so): the script then
#                            works as without it. Nothing is written next to it.
#   BINDER_PROJECTS_COMMIT   the commit (or ref) the image was built from: 1 to 128 of [A-Za-z0-9._-],
#                            not starting with a dot or a dash; may be empty or unset. A bad one is not
#                            used (a log line says so): no seed is recorded, no update runs.
#   BINDER_PROJECTS_UPDATE   1 to update an existing project to BINDER_PROJECTS_COMMIT; empty, unset or
#                            0 for none (anything else is ignored, with a warning).
# A folder name is 1 to 255 bytes of [A-Za-z0-9._-] and does not start with a dot.
#
# Exit status: 0 the project is ready (a queued deletion that could not be done is only a warning, and
# the report says so); 1 the project could not be made ready (the copy failed, the volume is full, a
# file is in the way of the project folder, an interrupted update of the project could not be finished
# or rolled back, an update failed and could not be rolled back); 2 a bad input (nothing was changed on
# the volume). An update that failed and left the project as it was is only a warning.
# Log lines start with "binder-projects: "; they name project folders and sizes, and print no other
# input, except the volume root and the image's home in the two messages that need them (a file in the
# way of the project folder; an image without a home folder).
#
# The report, written just before the script exits (whatever the exit status), is one key=value per
# line, never a line break inside a value, each message at most 1000 bytes, and warnings that would take
# it past 3400 bytes are only counted in a last warning line (kubelet keeps 4096 bytes of a termination
# message):
#   deleted=<positions>   the 1-based positions (in BINDER_PROJECTS_DELETE, space separated) of the
#                         queued names that are gone now: deleted now, already absent, not a folder
#                         (left alone: there was no project folder to delete), or a symbolic link
#                         (only the link was removed); and of those whose deletion (by its id) was
#                         carried out already by another start (what is there now is newer: left
#                         alone);
#   kept=<positions>      the positions of the queued project folders that could not be deleted;
#                         both lines are written once the queue was processed, possibly empty;
#   project=<state>       seeded (copied now), existed (the folder was there), seeded-empty (the image
#                         has no home folder, so the project was created empty), or failed;
#   update=<result>       only when an update was asked for (BINDER_PROJECTS_UPDATE=1) and the script
#                         got that far: the helper's own result line for an update done,
#                           updated project=NAME commit=C from=OLD|none replaced=N added=N removed=N
#                           kept=N beside=N stayed-deleted=N modes=N recovered=STATE
#                         (or "updated project=NAME commit=C" if the helper gave no such line), or
#                         not-needed (the project was seeded now, from this commit), unavailable (no
#                         helper or no valid commit: a warning says which), failed (the update failed
#                         and the project is as it was: a warning says why), unfinished (it failed and
#                         could not be rolled back: the script fails, the next start finishes or
#                         rolls it back);
#   warning=<message>     zero or more: something the user or the operator should know;
#   error=<message>       on failure only: why, and what to do.
# Failing to write the report is only a warning in the log.
#
# The helper. With BINDER_PROJECTS_HELPER, the script runs it as the notebook's user (docs/updates.md
# is its contract; it serializes itself on the volume with its own lock):
#   - every start, before the deletions and the seed: "$helper recover --root ROOT --project PROJECT",
#     which finishes or rolls back an update of the project that was killed. If it fails with status 1
#     or 3 (or cannot run while an update's work folder of the project is there), the start fails and
#     the project is left as it is for the next start; otherwise a helper that cannot run is only a
#     warning, and is not used again in this start;
#   - for each queued project deleted: "$helper recover" of that name, which removes the work folder of
#     an update of a project whose folder is gone (the script removes its manifest,
#     .binder-projects-seeds/<name>, itself, with or without the helper);
#   - after seeding a new project, with a valid commit: "$helper seeded --root ROOT --project PROJECT
#     --commit COMMIT", which records the manifest, the base of later updates; a failure is a warning
#     (that project's first update counts every file as the user's). After a seed, the project's
#     manifest is the new one or none: a stale one, of a project of that name deleted earlier, is
#     removed;
#   - if an update is asked for and the project existed: "$helper update --root ROOT --project PROJECT
#     --source SOURCE --commit COMMIT"; status 1 or 2 is a warning (the project is as it was, the server
#     starts on it), 3 fails the start.
# The helper's log lines are passed on; its "binder-projects: warning: " lines become warnings of the
# report, its "binder-projects: error: " line the reason in the script's own warning or error.
#
# Names at the volume root: the only names this script creates there are the reserved ones below (they
# start with a dot, which no project folder name can); nothing else at the root is ever touched except
# the named project folders.
#   .binder-projects-new.XXXXXX           a work folder being set up (a second or so)
#   .binder-projects-tmp.XXXXXX           a run's work folder, locked: see below
#   .binder-projects-tmp-unlocked.XXXXXX  a run's work folder where flock is missing or does not work
#   .binder-projects-tmp-unlocked.<pod>.XXXXXX  the same, of a start given its pod's name
#   .binder-projects-deleted.<name>       a queued project folder being deleted
#   .binder-projects-done                 the tombstones (see below): a folder, never a leftover
#   .binder-projects-trash.XXXXXX         left by older versions of this script
#   .binder-projects-seeds, .binder-projects-updates  the helper's manifests and work folders (see
#                                         docs/updates.md); the script only removes a manifest
# (XXXXXX: mktemp's letters and digits, or, without mktemp, <pid>_<n>: never a dot.)
#
# Leftovers, and runs at the same time on one volume (two servers of one user starting together, or a
# relaunch while an old pod still runs): a run removes only what is provably dead.
#   - The lock rule. A run makes its work folder as .binder-projects-new.XXXXXX, opens the lock file
#     .lock in it on file descriptor 8, held until the run ends, takes flock(2) on it, and only then
#     renames the folder to .binder-projects-tmp.XXXXXX. So every .binder-projects-tmp.* folder of a
#     live run has a held lock, and the kernel drops the lock of a killed run. Another run removes such
#     a folder only if it can take that lock without waiting (and holds it while removing); a folder
#     whose lock is held is left alone.
#   - The pod rule. A start given its pod's name (BINDER_PROJECTS_POD) names its unlocked work folder
#     .binder-projects-tmp-unlocked.<pod>.XXXXXX (only if the pod's name has at most 200 bytes, so the
#     name fits in 255), and, with or without flock, removes at once every unlocked work folder whose
#     pod part (between the prefix and the last dot) is exactly its own pod's name: it is dead, as the
#     init containers of one pod run one after another, and Kubernetes admits a new pod of a name only
#     once the earlier pod of that name is gone (unless an operator force-deletes it). (An older
#     version's name .binder-projects-tmp-unlocked.<pid>.<n> reads as a pod named <pid>: no pod of
#     the webhook is named by digits only.)
#   - The 24-hour rule. .binder-projects-new.*, .binder-projects-tmp-unlocked.* (of another pod, or of
#     none) and .binder-projects-trash.* folders, and .binder-projects-tmp.* folders without a .lock
#     file (or whose lock cannot be checked: flock is missing from the image, or the .lock file cannot
#     be opened), are removed only once they were last modified more than 24 hours ago
#     (find -prune -mmin +1440); without find, never.
#   - .binder-projects-deleted.* folders are always dead (their project is deleted already): any run
#     removes them, except one whose deletion is still running (see below: its folder lock is held).
#     So is any entry with a reserved name that is not a folder (no run makes one) removed.
# A leftover that cannot be removed is only warned about: the next run tries again.
#
# Deleting a queued folder needs no new space and no write permission on the folder itself: the run
# takes flock(2) on the folder itself (file descriptor 7; a run that finds it held waits for that
# deletion to end, then looks again), renames it, at the volume root, to
# .binder-projects-deleted.<name> (cut to 255 bytes; an entry of that name is garbage of an earlier
# partial removal and is removed first), then removes it, read-only folders made writable first. If
# the rename fails, the folder is removed in place. If some of its files cannot be removed, what is
# left is renamed back to <name>: it stays queued (kept=) and is warned about. A queued name that is
# absent while .binder-projects-deleted.<name> is locked (another start is deleting it) is waited for
# in the same way.
#
# Tombstones. Every start is handed the whole queue, so a start that launches a project P queued for
# deletion, and seeds it anew, may run beside another start handed the same deletion of P: that one
# must not delete the new P. So .binder-projects-done/<name> holds the id (decimal, one line) of the
# latest deletion of <name> carried out. For a queued name with an id N > 0, a start reads it on each
# look at <name>, and last under the folder lock (where flock works), just before the rename: if it
# holds M >= N, that deletion was carried out already, and whatever is at <name> now is newer: it is
# left alone, and the position is reported deleted. Otherwise the start deletes as above, and once the
# folder is gone (or was found absent) writes N there, unless it holds more already: a new file in a
# new private folder .binder-projects-done/.XXXXXX, renamed over the tombstone; all before the folder
# lock is released and before the launched project is seeded, so a start waiting on that lock, or
# coming later, sees it. (Without flock, the last read and the rename are not atomic, only an instant
# apart.) A failure to write it is a warning. A folder that could not be deleted gets no tombstone (it
# stays queued). Id 0, or no ids, means no tombstone is read or written. Tombstones are a few bytes
# each and are never removed, nor is .binder-projects-done (not a leftover; never a project, as its
# name starts with a dot), nor the private folder of a start killed while writing one; an entry of
# that name that is not a folder (or is a link) is removed before a tombstone is written.

set -eu
IFS=' 	
'
unset CDPATH || :
nl='
'
# Messages of the tools in plain English (the volume-full check reads them), lengths in bytes.
LC_ALL=C
export LC_ALL

new_prefix=.binder-projects-new.
tmp_prefix=.binder-projects-tmp.
unlocked_prefix=.binder-projects-tmp-unlocked.
trash_prefix=.binder-projects-trash.
deleted_prefix=.binder-projects-deleted.
done_dir=.binder-projects-done
seeds_dir=.binder-projects-seeds
updates_dir=.binder-projects-updates
lock_name=.lock
stale_minutes=1440

# What the report says (see above).
report_file=${BINDER_PROJECTS_REPORT-}
r_queue_done=
r_deleted=
r_kept=
r_project=
r_error=
r_warnings=
r_update=

work=
have_flock=

log() {
	printf 'binder-projects: %s\n' "$*"
}

# one_line TEXT: sets $line to TEXT with line breaks turned into spaces, cut to at most 1000 bytes.
one_line() {
	line=
	rest=$1
	while :; do
		case $rest in
		*"$nl"*)
			line=$line${rest%%"$nl"*}' '
			rest=${rest#*"$nl"}
			;;
		*) break ;;
		esac
	done
	line=$line$rest
	if [ "${#line}" -gt 1000 ]; then
		line="$(printf '%.996s' "$line") ..."
	fi
}

# warn MESSAGE...: logs a warning and adds it to the report.
warn() {
	one_line "$*"
	printf 'binder-projects: warning: %s\n' "$line" >&2
	r_warnings=${r_warnings}warning=$line$nl
}

# fail STATUS MESSAGE...
fail() {
	status=$1
	shift
	one_line "$*"
	printf 'binder-projects: error: %s\n' "$line" >&2
	r_error=$line
	r_project=failed
	exit "$status"
}

# refuse MESSAGE...: a bad input. Nothing has been changed when this is called.
refuse() {
	fail 2 "$*; nothing was changed"
}

# finish: the EXIT trap. Writes the report, if one is asked for, and exits with the script's status.
finish() {
	status=$?
	set +e
	if [ -n "$report_file" ]; then
		if [ "$status" -ne 0 ]; then
			r_project=failed
			[ -n "$r_error" ] || r_error="the init container stopped unexpectedly (exit status $status); its log says more"
		fi
		text=
		if [ -n "$r_queue_done" ]; then
			text="deleted=$r_deleted${nl}kept=$r_kept$nl"
		fi
		text=${text}project=${r_project:-failed}$nl
		if [ -n "$r_update" ]; then
			one_line "$r_update"
			text=${text}update=$line$nl
		fi
		if [ -n "$r_error" ]; then
			text=${text}error=$r_error$nl
		fi
		# Warnings as long as they fit well below kubelet's 4096 bytes; the rest are only counted.
		dropped=0
		rest=$r_warnings
		while [ -n "$rest" ]; do
			w=${rest%%"$nl"*}
			rest=${rest#*"$nl"}
			if [ $((${#text} + ${#w})) -lt 3400 ]; then
				text=$text$w$nl
			else
				dropped=$((dropped + 1))
			fi
		done
		if [ "$dropped" -gt 0 ]; then
			text="${text}warning=$dropped more warnings are only in the log$nl"
		fi
		if ! { printf '%s' "$text" >"$report_file"; } 2>/dev/null; then
			printf 'binder-projects: warning: could not write the report file; the controller only sees the exit status\n' >&2
		fi
	fi
	exit "$status"
}
trap finish EXIT

# valid_name NAME: whether NAME is a safe project folder name. Character lists, not ranges, so that no
# locale's collation order can widen them.
valid_name() {
	case $1 in
	'' | .* | *[!ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-]*)
		return 1
		;;
	esac
	[ "${#1}" -le 255 ]
}

# valid_id ID: whether ID is a deletion id: 1 to 19 decimal digits, at most 2^63-1, the largest integer
# of the shells (dash, bash and busybox ash all have 64 bits). Compared with test's -ge, which reads
# decimal (where $((...)) reads a leading 0 as octal); a number too large for it is an error there.
valid_id() {
	case $1 in '' | *[!0123456789]*) return 1 ;; esac
	[ "${#1}" -lt 19 ] || { [ "${#1}" -eq 19 ] && { [ "${1%?????????}" -lt 9223372036 ] ||
		{ [ "${1%?????????}" -eq 9223372036 ] && [ "${1#??????????}" -le 854775807 ]; }; }; }
}

# exists PATH: whether any entry is at PATH, including a dangling symbolic link.
exists() {
	[ -e "$1" ] || [ -L "$1" ]
}

# uid: the user this script runs as, for messages.
uid() {
	id -u 2>/dev/null || echo '?'
}

# remove_tree PATH: removes PATH and everything below it, never following a symbolic link. A folder
# that has lost its write permission (rm cannot empty it) is made writable first, without following
# links, and only folders are changed, so no file's mode is touched.
# A tree that another run removed at the same time counts as removed. Another run removing the same
# tree at the same time (without flock nothing stops it) makes rm fail on the entries it took first,
# and can leave a folder not yet empty: so a removal that failed is tried again, up to three more
# times a second apart, before it counts as failed.
remove_tree() {
	rm -rf "$1" 2>/dev/null && return 0
	exists "$1" || return 0
	if [ -d "$1" ] && ! [ -L "$1" ] && command -v find >/dev/null 2>&1; then
		find "$1" -type d -exec chmod u+rwx {} \; 2>/dev/null || :
	fi
	rm_tries=0
	while :; do
		errors=$(rm -rf "$1" 2>&1) && return 0
		exists "$1" || return 0
		rm_tries=$((rm_tries + 1))
		[ "$rm_tries" -le 3 ] || break
		sleep 1 2>/dev/null || :
	done
	print_errors "$errors"
	return 1
}

# make_private_dir PREFIX: creates a new folder PREFIX<suffix> in the current folder and sets $made to
# "./<its name>"; on failure sets $made_errors to what the tools said. The suffix has no dot (mktemp's
# XXXXXX are letters and digits; without mktemp it is <pid>_<n>), so a name can be parsed from the end.
priv_n=0
make_private_dir() {
	made=
	made_errors=
	if command -v mktemp >/dev/null 2>&1; then
		if made=$(mktemp -d "./${1}XXXXXX" 2>&1); then
			return 0
		fi
		made_errors=$made
		made=
		print_errors "$made_errors"
		return 1
	fi
	# Without mktemp: a counter that keeps counting across calls (a name may be taken by another run,
	# which can have the same process id in its own container).
	tries=0
	while [ "$tries" -lt 100 ]; do
		tries=$((tries + 1))
		priv_n=$((priv_n + 1))
		if made_errors=$(mkdir "./$1$$_$priv_n" 2>&1); then
			made=./$1$$_$priv_n
			return 0
		fi
		if ! exists "./$1$$_$priv_n"; then
			print_errors "$made_errors"
			return 1
		fi
	done
	made_errors="no free name for a new folder"
	return 1
}

# stale PATH: whether PATH (never followed if a link) was last modified more than 24 hours ago.
# Without find, nothing is.
stale() {
	command -v find >/dev/null 2>&1 || return 1
	found=$(find "$1" -prune -mmin +"$stale_minutes" 2>/dev/null) || return 1
	[ -n "$found" ]
}

# remove_unlocked LOCK TREE: removes TREE, left by another run, if the lock on LOCK (a file or a
# folder) is free (the kernel drops a killed run's lock), holding that lock while removing. Status:
# 0 removed, 3 locked (by a run still running), 4 LOCK cannot be opened, other: could not remove.
remove_unlocked() {
	(
		{ command exec 9<"$1"; } 2>/dev/null || exit 4
		flock -n 9 2>/dev/null || exit 3
		remove_tree "$2"
	)
}

# remove_deleted GONE: removes GONE, a project folder renamed for deletion, unless a run that is still
# running holds the lock on it (it is deleting it right now). Fails if GONE is still there.
remove_deleted() {
	st=0
	if [ -n "$have_flock" ]; then
		remove_unlocked "$1" "$1" || st=$?
		case $st in
		0) return 0 ;;
		3)
			log "leaving ${1#./}: a start that is still running is deleting it"
			return 1
			;;
		esac
	fi
	remove_tree "$1"
}

# removed_leftover PATH WHY: logs the removal of the leftover PATH.
removed_leftover() {
	log "removed ${1#./}, $2"
}

# remove_leftover PATH WHY: removes the leftover PATH (never following a link), or warns.
remove_leftover() {
	if remove_tree "$1" || ! exists "$1"; then
		removed_leftover "$1" "$2"
	else
		warn "could not remove ${1#./}, $2; the next start tries again"
	fi
}

# keep_young PATH: removes the leftover folder PATH if it is more than 24 hours old, else leaves it.
keep_young() {
	if stale "$1"; then
		remove_leftover "$1" "left by an earlier interrupted run"
	else
		log "leaving ${1#./}: it may belong to a start that is still running; it is removed once it is 24 hours old"
	fi
}

# volume_usage: sets $usage (e.g. "1020 MiB of 1024 MiB used (100%)") and $avail_kib from df for the
# volume root (the current folder). Fails if df is missing or its output is not as POSIX says.
volume_usage() {
	usage=
	avail_kib=
	command -v df >/dev/null 2>&1 || return 1
	out=$(df -Pk . 2>/dev/null) || return 1
	last=${out##*"$nl"}
	set -f
	set -- $last
	set +f
	[ "$#" -ge 6 ] || return 1
	for n in "$3" "$4"; do
		case $n in '' | *[!0123456789]*) return 1 ;; esac
	done
	used=$3
	avail_kib=$4
	total=$((used + avail_kib))
	[ "$total" -gt 0 ] || return 1
	pct=$(((used * 100 + total - 1) / total))
	if [ "$total" -lt 1024 ]; then
		unit=KiB div=1
	elif [ "$total" -lt 10485760 ]; then
		unit=MiB div=1024
	else
		unit=GiB div=1048576
	fi
	usage="$((used / div)) $unit of $((total / div)) $unit used ($pct%)"
}

# full_volume ERRORS: whether ERRORS (what a tool said) or df say that the volume is full; sets $full
# to say how full.
full_volume() {
	full="the volume is full"
	if volume_usage; then
		full="the volume is full: $usage"
		[ "$avail_kib" -gt 0 ] || return 0
	fi
	case $1 in *"No space left on device"*) return 0 ;; esac
	return 1
}

# make_work_dir: creates this run's private work folder at the volume root and sets $work; see the
# lock rule above. Fails with $made_errors set.
make_work_dir() {
	if [ -n "$have_flock" ]; then
		attempt=0
		while [ "$attempt" -lt 10 ]; do
			attempt=$((attempt + 1))
			make_private_dir "$new_prefix" || return 1
			new=$made
			suffix=${new#./"$new_prefix"}
			if ! { command exec 8>"$new/$lock_name"; } 2>/dev/null; then
				remove_tree "$new" || :
				made_errors="cannot create a file in the new folder"
				return 1
			fi
			if ! flock -n 8 2>/dev/null; then
				# Nobody else knows this folder: flock does not work on this volume.
				exec 8>&-
				have_flock=
				log "flock does not work on this volume: using an unlocked work folder (if this start is killed, removed only once it is 24 hours old, or by the next start of this pod)"
				if mv -T "$new" "./$unlocked_prefix${pod:+$pod.}$suffix" 2>/dev/null; then
					work=./$unlocked_prefix${pod:+$pod.}$suffix
					return 0
				fi
				remove_tree "$new" || :
				break
			fi
			if mv -T "$new" "./$tmp_prefix$suffix" 2>/dev/null; then
				work=./$tmp_prefix$suffix
				return 0
			fi
			# An mv without -T: a plain rename, only to a name that is free.
			if ! exists "./$tmp_prefix$suffix" && mv "$new" "./$tmp_prefix$suffix" 2>/dev/null && [ -f "./$tmp_prefix$suffix/$lock_name" ]; then
				work=./$tmp_prefix$suffix
				return 0
			fi
			# That name is taken (a leftover, or another run's folder): try another one.
			exec 8>&-
			remove_tree "$new" || :
		done
		[ -z "$have_flock" ] || {
			made_errors="no free name for a work folder"
			return 1
		}
	fi
	make_private_dir "$unlocked_prefix${pod:+$pod.}" || return 1
	work=$made
}

# deleted_name NAME: sets $gone to the reserved name NAME is renamed to while it is deleted.
deleted_name() {
	gone=./$deleted_prefix$1
	if [ "${#gone}" -gt 257 ]; then
		gone=./$deleted_prefix$(printf '%.230s' "$1")
	fi
}

# done_id NAME: sets $m to the id in the tombstone of NAME (see above), 0 if there is none or it is
# not a valid id.
done_id() {
	m=
	if [ -f "./$done_dir/$1" ]; then
		{ read -r m || :; } 2>/dev/null <"./$done_dir/$1" || m=
	fi
	valid_id "$m" || m=0
}

# done_before NAME ID: whether the deletion ID (> 0) of NAME was carried out already, by another
# start: then whatever is at NAME now is newer, and is left alone.
done_before() {
	[ "$2" -gt 0 ] || return 1
	done_id "$1"
	[ "$m" -ge "$2" ] || return 1
	log "project $1 was deleted already (by another start); anything named $1 now is newer and stays"
}

# record_done NAME ID: writes ID (> 0) into the tombstone of NAME, unless it holds as much already:
# a new file in a folder of its own in $done_dir, renamed over the tombstone. A failure is a warning.
record_done() {
	[ "$2" -gt 0 ] || return 0
	done_id "$1"
	[ "$m" -lt "$2" ] || return 0
	{ [ -d "./$done_dir" ] && ! [ -L "./$done_dir" ]; } || { rm -f "./$done_dir" && mkdir "./$done_dir"; } 2>/dev/null || :
	if make_private_dir "$done_dir/." && { printf '%s\n' "$2" >"$made/id" && { mv -T "$made/id" "./$done_dir/$1" ||
		{ ! [ -d "./$done_dir/$1" ] && mv -f "$made/id" "./$done_dir/$1"; }; }; } 2>/dev/null; then
		rmdir "$made" 2>/dev/null || :
		return 0
	fi
	[ -z "$made" ] || remove_tree "$made" || :
	warn "could not record in $done_dir that project $1 was deleted; a start handed the same deletion at the same time as a start of $1 may delete the new $1"
}

# forget_project NAME: after NAME was deleted (or found gone), removes its manifest, and, with the
# helper, the work folder of an interrupted update of it. Never fails: what is left is only logged.
forget_project() {
	if ! [ -d "./$1" ] && exists "./$seeds_dir/$1"; then
		rm -f "./$seeds_dir/$1" 2>/dev/null || log "could not remove the record of deleted project $1 ($seeds_dir/$1)"
	fi
	if [ -n "$helper" ] && ! [ -d "./$1" ] && exists "./$updates_dir/$1"; then
		recover_project "$1" || log "could not remove the work folder of an update of deleted project $1 ($h_error); the next start of a project of that name does"
	fi
	return 0
}

# delete_project NAME ID: deletes the queued project folder NAME; ID is the deletion's id (0: none).
# Succeeds if NAME is gone (or is not a folder, which is left alone), or if deletion ID of NAME was
# carried out already; warns and fails if it is still there.
delete_project() {
	attempt=0
	while :; do
		attempt=$((attempt + 1))
		done_before "$1" "$2" && return 0
		if [ -L "./$1" ]; then
			# Remove the link itself (no trailing slash: rm never follows it); its target stays.
			if errors=$(rm -f "./$1" 2>&1) || ! exists "./$1"; then
				record_done "$1" "$2"
				log "deleted project $1 (it was a symbolic link; only the link was removed)"
				return 0
			fi
			print_errors "$errors"
			warn "could not delete project $1 (a symbolic link): this user (uid $(uid)) may not remove it; the next start tries again"
			return 1
		fi
		if ! [ -d "./$1" ]; then
			if exists "./$1"; then
				log "not deleting $1: it is not a folder; left alone"
				return 0
			fi
			# A start that is deleting it right now (and may fail to, and put it back): wait for it.
			deleted_name "$1"
			if [ -n "$have_flock" ] && [ "$attempt" -le 3 ] && [ -d "$gone" ] && { command exec 7<"$gone"; } 2>/dev/null; then
				if ! flock -n 7 2>/dev/null; then
					log "project $1 is being deleted by another start; waiting for it"
					flock 7 2>/dev/null || :
					exec 7<&-
					continue
				fi
				exec 7<&-
			fi
			record_done "$1" "$2"
			log "project $1 queued for deletion does not exist; nothing to delete"
			return 0
		fi
		# Lock the folder itself (a lock needs no space and no write permission), so that another run
		# deleting it at the same time waits for this one, and never takes it, under its reserved
		# name below, for a leftover. Without flock, or where it fails, go on unlocked.
		[ -n "$have_flock" ] && [ "$attempt" -le 3 ] || break
		if ! { command exec 7<"./$1"; } 2>/dev/null; then
			exists "./$1" || continue # renamed by another run meanwhile: look again
			break
		fi
		flock -n 7 2>/dev/null && break
		# Another run is deleting it right now: wait for it to finish, then look again.
		log "project $1 is being deleted by another start; waiting for it"
		flock 7 2>/dev/null || :
		exec 7<&-
	done
	deleted_name "$1"
	if exists "$gone"; then
		# Garbage of an earlier partial removal (or another run's deletion in progress).
		remove_deleted "$gone" || :
	fi
	# Under the lock, just before the rename: a start that deleted it (and may have seeded it anew)
	# left its tombstone.
	if done_before "$1" "$2"; then
		exec 7<&-
		return 0
	fi
	# Rename first (atomic, needs no space), so a killed run leaves a folder that any later run
	# removes, never a half-deleted project under its own name. The tombstone is written once the
	# folder is gone, before the lock is released.
	if mv -T "./$1" "$gone" 2>/dev/null; then
		if remove_tree "$gone"; then
			record_done "$1" "$2"
			exec 7<&-
			log "deleted project $1"
			return 0
		fi
		# Put back what is left, so that the folder that could not be deleted stays where it was,
		# and stays queued.
		if mv -T "$gone" "./$1" 2>/dev/null; then
			warn "could not delete project $1: this user (uid $(uid)) may not remove some of its files (see the log); what is left stays in $1 and the next start tries again; if this repeats, ask the operator to remove it"
		else
			warn "could not delete project $1: this user (uid $(uid)) may not remove some of its files (see the log); what is left is in ${gone#./}; if this repeats, ask the operator to remove it"
		fi
		exec 7<&-
		return 1
	fi
	if ! exists "./$1"; then
		record_done "$1" "$2"
		exec 7<&-
		log "project $1 was deleted by another start meanwhile"
		return 0
	fi
	# The rename failed: remove the folder in place.
	if remove_tree "./$1"; then
		record_done "$1" "$2"
		exec 7<&-
		log "deleted project $1 (in place: it could not be renamed)"
		return 0
	fi
	exec 7<&-
	warn "could not delete project $1: this user (uid $(uid)) may not remove some of its files (see the log); what is left stays in $1 and the next start tries again; if this repeats, ask the operator to remove it"
	return 1
}

# print_errors TEXT: logs the first lines of a command's error output, and how many more there were,
# with the image's home folder written as <home> (no input but folder names is printed).
# (A pipe, not a here-document: bash writes those to a temporary file, and /tmp may be read-only.)
print_errors() {
	printf '%s\n' "$1" | {
		n=0
		while IFS= read -r line; do
			n=$((n + 1))
			[ "$n" -le 5 ] || continue
			shown=
			while :; do
				case $line in
				*"$source_dir"*)
					shown=$shown${line%%"$source_dir"*}'<home>'
					line=${line#*"$source_dir"}
					;;
				*) break ;;
				esac
			done
			printf 'binder-projects:   %s\n' "$shown$line"
		done
		if [ "$n" -gt 5 ]; then
			printf 'binder-projects:   ... and %s more lines\n' "$((n - 5))"
		fi
	} >&2
}

# valid_commit COMMIT: whether COMMIT may be given to the helper (it becomes part of file names).
valid_commit() {
	case $1 in
	'' | [.-]* | *[!ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-]*)
		return 1
		;;
	esac
	[ "${#1}" -le 128 ]
}

# run_helper ARGS...: runs the helper with ARGS; sets $h_status to its exit status, $h_line to its
# result line (stdout), $h_error to its error message ("" if none). Its log lines are passed on, its
# warnings become warnings of this script.
run_helper() {
	h_status=0
	h_line=
	h_error=
	h_out=$("$helper" "$@" 2>&1) || h_status=$?
	h_rest=$h_out$nl
	while [ -n "$h_rest" ]; do
		h_l=${h_rest%%"$nl"*}
		h_rest=${h_rest#*"$nl"}
		case $h_l in
		'') ;;
		"binder-projects: warning: "*) warn "${h_l#binder-projects: warning: }" ;;
		"binder-projects: error: "*) h_error=${h_l#binder-projects: error: } ;;
		"binder-projects: "*) printf '%s\n' "$h_l" >&2 ;;
		"seeded "* | "updated "* | "recovered "* | "failed "*) h_line=$h_l ;;
		*)
			# A usage message (a helper of another version?): its first line is the reason.
			[ -n "$h_error" ] || h_error=$h_l
			printf 'binder-projects:   %s\n' "$h_l" >&2
			;;
		esac
	done
	[ -n "$h_error" ] || h_error="exit status $h_status"
}

# recover_project NAME: finishes or rolls back an interrupted update of NAME (the helper's recover).
# Fails if that could not be done while an update of NAME has left its work folder.
recover_project() {
	[ -n "$helper" ] || return 0
	run_helper recover --root "$root" --project "$1"
	case $h_status in
	0)
		case $h_line in
		*" state=none" | '') ;;
		*) log "project $1: ${h_line#recovered project=$1 }" ;;
		esac
		return 0
		;;
	1 | 3) return 1 ;;
	esac
	exists "./$updates_dir/$1" && return 1
	warn "the helper could not run (${h_error}): project updates are off for this start; the operator should check --helper-image"
	helper=
}

# record_seed: records what the project was just seeded with (the helper's seeded), or removes a stale
# manifest of an earlier project of that name, so the manifest is the new one or none.
record_seed() {
	if [ -n "$helper" ] && [ -n "$commit" ]; then
		run_helper seeded --root "$root" --project "$project" --commit "$commit"
		[ "$h_status" -ne 0 ] || return 0
		warn "could not record what project $project was seeded with ($h_error): its first update counts every file as yours"
	elif [ -n "$helper" ]; then
		log "no valid commit was given: what project $project was seeded with is not recorded, and its first update counts every file as yours"
	fi
	rm -f "./$seeds_dir/$project" 2>/dev/null || :
}

# update_project: brings the existing project to the image's commit, if that was asked for (the
# helper's update). A failure that left the project as it was is a warning; one that could not be
# rolled back fails the start.
update_project() {
	[ -n "$want_update" ] || return 0
	if [ -z "$helper" ]; then
		r_update=unavailable
		warn "an update of project $project was asked for, but updates need the helper (binder-projects), which this start does not have; the operator should set --helper-image; project $project starts unchanged"
		return 0
	fi
	if [ -z "$commit" ]; then
		r_update=unavailable
		warn "an update of project $project was asked for, but the launch names no valid commit; project $project starts unchanged"
		return 0
	fi
	log "updating project $project to commit $commit"
	run_helper update --root "$root" --project "$project" --source "$source_dir" --commit "$commit"
	case $h_status in
	0)
		case $h_line in
		"updated project=$project commit=$commit "*) r_update=$h_line ;;
		*) r_update="updated project=$project commit=$commit" ;;
		esac
		;;
	3)
		r_update=unfinished
		fail 1 "the update of project $project to commit $commit failed and could not be rolled back ($h_error); the server does not start on a half-updated project: start again (the next start finishes or rolls back the update); if this repeats, ask the operator"
		;;
	*)
		r_update=failed
		warn "could not update project $project to commit $commit ($h_error); project $project starts unchanged"
		;;
	esac
}

# --- 1. Check every input before changing anything. ---

root=${BINDER_PROJECTS_ROOT-}
project=${BINDER_PROJECTS_PROJECT-}
source_dir=${BINDER_PROJECTS_SOURCE-}
delete=${BINDER_PROJECTS_DELETE-}

case $report_file in
'' | /*) ;;
*)
	report_file=
	refuse "BINDER_PROJECTS_REPORT must be an absolute path"
	;;
esac

[ -n "$root" ] || refuse "BINDER_PROJECTS_ROOT is not set: it must name the folder where the user's volume is mounted"
case $root in /*) ;; *) refuse "BINDER_PROJECTS_ROOT must be an absolute path" ;; esac
[ -d "$root" ] || refuse "BINDER_PROJECTS_ROOT is not a folder: is the user's volume mounted there?"

[ -n "$source_dir" ] || refuse "BINDER_PROJECTS_SOURCE is not set: it must name the image's home folder to seed projects from"
case $source_dir in /*) ;; *) refuse "BINDER_PROJECTS_SOURCE must be an absolute path" ;; esac

[ -n "$project" ] || refuse "BINDER_PROJECTS_PROJECT is not set: it must name the project folder"
valid_name "$project" || refuse "BINDER_PROJECTS_PROJECT is not a valid project folder name (1 to 255 of A-Z a-z 0-9 . _ -, not starting with a dot)"

# Split the deletion queue with globbing off, so a name is never expanded as a pattern. A bad name is
# reported by its position only: it may hold anything, including line breaks.
set -f
i=0
bad=
for name in $delete; do
	i=$((i + 1))
	valid_name "$name" || bad="$bad $i"
done
set +f
[ -z "$bad" ] || refuse "BINDER_PROJECTS_DELETE holds invalid project folder names (at positions$bad of $i; each must be 1 to 255 of A-Z a-z 0-9 . _ -, not starting with a dot)"

# The deletions' ids: never a reason to refuse (an older webhook sets none); bad ones are all ignored.
set -f
ids=
n=0
for id in ${BINDER_PROJECTS_DELETE_IDS-}; do
	n=$((n + 1))
	valid_id "$id" || bad=yes
	ids="$ids $id"
done
set +f
if [ -n "${BINDER_PROJECTS_DELETE_IDS+set}" ] && { [ -n "$bad" ] || [ "$n" -ne "$i" ]; }; then
	warn "BINDER_PROJECTS_DELETE_IDS is ignored ($n ids for $i names in BINDER_PROJECTS_DELETE, or one is not 1 to 19 digits of at most 2^63-1): the queued projects are deleted without checking whether another start deleted them already"
	ids=
fi

# The pod's name, for the pod rule; a bad one is ignored, one too long to fit in a folder name unused.
pod=${BINDER_PROJECTS_POD-}
case $pod in .* | *[!abcdefghijklmnopqrstuvwxyz0123456789.-]*) pod=/ ;; esac
if [ "$pod" = / ] || [ "${#pod}" -gt 253 ]; then
	warn "BINDER_PROJECTS_POD is ignored: it is not a pod's name (1 to 253 of a-z 0-9 . -, not starting with a dot)"
	pod=
elif [ "${#pod}" -gt 200 ]; then
	log "the pod's name has more than 200 bytes: this start's work folder does not carry it"
	pod=
fi

# The helper, the commit and the update request: never a reason to refuse.
helper=${BINDER_PROJECTS_HELPER-}
if [ -n "$helper" ]; then
	case $helper in
	/*) ;;
	*) helper=/ ;;
	esac
	if ! [ -f "$helper" ] || ! [ -x "$helper" ]; then
		log "BINDER_PROJECTS_HELPER is not an absolute path of an executable file: the helper is not used (no project updates)"
		helper=
	fi
fi
commit=${BINDER_PROJECTS_COMMIT-}
if [ -n "$commit" ] && ! valid_commit "$commit"; then
	log "BINDER_PROJECTS_COMMIT is not a valid commit (1 to 128 of A-Z a-z 0-9 . _ -, not starting with a dot or a dash): it is not used"
	commit=
fi
want_update=
case ${BINDER_PROJECTS_UPDATE-} in
'' | 0) ;;
1) want_update=yes ;;
*) warn "BINDER_PROJECTS_UPDATE is ignored: it must be 1 (update) or 0 (do not)" ;;
esac

# Work relative to the volume root from here on: every path below is "./<name>", so no name can be
# taken for an option (a project may be called "-rf") and no path is printed in full.
cd "$root" || refuse "cannot enter BINDER_PROJECTS_ROOT"

# --- 2. Remove what earlier runs provably left behind (the lock rule and the 24-hour rule). ---

if command -v flock >/dev/null 2>&1; then
	have_flock=yes
	log "flock found: work folders of starts still running are told by their lock"
else
	log "flock is not in this image: this start's work folder is not locked, and a leftover work folder is removed only once it is 24 hours old (or, if it carries this pod's name, at once)"
fi

for leftover in ./"$tmp_prefix"* ./"$new_prefix"* ./"$unlocked_prefix"* ./"$trash_prefix"* ./"$deleted_prefix"*; do
	if ! [ -d "$leftover" ] || [ -L "$leftover" ]; then
		# No run makes anything but folders with these names. (An unmatched pattern stays as it is.)
		exists "$leftover" || continue
		remove_leftover "$leftover" "which is not a folder (the name is reserved for binder-projects)"
		continue
	fi
	case ${leftover#./} in
	"$deleted_prefix"*)
		if remove_deleted "$leftover"; then
			removed_leftover "$leftover" "left by the interrupted deletion of a project"
		elif exists "$leftover" && [ "$st" -ne 3 ]; then
			warn "could not remove ${leftover#./}, left by the interrupted deletion of a project; the next start tries again"
		fi
		;;
	"$tmp_prefix"*)
		if [ -n "$have_flock" ] && [ -f "$leftover/$lock_name" ] && ! [ -L "$leftover/$lock_name" ]; then
			st=0
			remove_unlocked "$leftover/$lock_name" "$leftover" || st=$?
			case $st in
			0) removed_leftover "$leftover" "left by an earlier interrupted run" ;;
			3) log "leaving ${leftover#./}: a start that is still running holds its lock" ;;
			4) keep_young "$leftover" ;;
			*)
				if exists "$leftover"; then
					warn "could not remove ${leftover#./}, left by an earlier interrupted run; the next start tries again"
				else
					removed_leftover "$leftover" "left by an earlier interrupted run"
				fi
				;;
			esac
		else
			keep_young "$leftover"
		fi
		;;
	*)
		# The pod rule: the part between the prefix and the last dot (the suffix has none) is the pod.
		if [ -n "$pod" ] && [ "${leftover%.*}" = "./$unlocked_prefix$pod" ]; then
			remove_leftover "$leftover" "left by an earlier start of this pod, which has ended"
		else
			keep_young "$leftover"
		fi
		;;
	esac
done

# --- 2b. Finish or roll back an interrupted update of the launched project, before anything else
# touches it. ---

if ! recover_project "$project"; then
	fail 1 "an interrupted update of project $project could not be finished or rolled back ($h_error); project $project was left as it is: start again, and if this repeats, ask the operator (the update's work folder is $updates_dir/$project on the volume)"
fi

# --- 3. Delete the queued project folders. A deletion that cannot be done is a warning, not a failure:
# the launched project is seeded anyway, and the report keeps that folder queued. ---

set -f
set -- $ids
i=0
for name in $delete; do
	i=$((i + 1))
	id=${1:-0}
	[ "$#" -eq 0 ] || shift
	if delete_project "$name" "$id"; then
		r_deleted=$r_deleted${r_deleted:+ }$i
		forget_project "$name"
	else
		r_kept=$r_kept${r_kept:+ }$i
	fi
done
set +f
r_queue_done=yes

# --- 4. Seed the launched project, only if nothing of that name exists. ---

if exists "./$project"; then
	if [ -d "./$project" ]; then
		if [ -L "./$project" ]; then
			log "project $project exists (as a symbolic link); copying nothing"
		else
			log "project $project exists; copying nothing"
		fi
		r_project=existed
		update_project
		exit 0
	fi
	if [ -L "./$project" ]; then
		fail 1 "a symbolic link named $project, which does not lead to a folder, is in the way of the project folder in $root; rename or remove it (from any other project: your volume is at $root there), then start again"
	fi
	fail 1 "a file named $project is in the way of the project folder in $root; rename or remove it (from any other project: your volume is at $root there), then start again"
fi

home=yes
[ -d "$source_dir" ] || home=
if [ -n "$home" ]; then
	log "copying the image's home folder into new project $project"
else
	warn "the image has no home folder at $source_dir, so project $project starts empty; the operator should check --home-mount-path (the notebook's home folder in the image)"
fi
if ! make_work_dir; then
	if full_volume "$made_errors"; then
		fail 1 "could not create a temporary folder on the volume for project $project: $full. Free some space (delete files or projects you no longer need) or ask the operator for a larger volume, then start again. Project $project was not created."
	fi
	fail 1 "could not create a temporary folder on the volume for project $project; is the volume full or not writable by this user (uid $(uid))?"
fi

# Copy into a fresh folder inside the work folder, so the project folder gets the home's own mode,
# owner and times. It bears the work folder's unique reserved name, so that nothing below can
# confuse it with a user's file. "$source_dir/." copies the home's contents even if the home is a
# symbolic link. cp's messages are kept and printed only if it fails (busybox cp warns about every
# file's owner when not root).
copy=$work/${work#./}
# seed_failed ERRORS WHAT FULL_END OTHER: the project could not be made: logs the errors, removes the
# work folder and fails with "WHAT: <how full>. Free some space ... FULL_END" if the volume is full
# (measured before the partial copy is removed), else with OTHER.
seed_failed() {
	print_errors "$1"
	is_full=
	if full_volume "$1"; then
		is_full=yes
	fi
	remove_tree "$work" || warn "could not remove ${work#./}; a later start removes it"
	if [ -n "$is_full" ]; then
		fail 1 "$2: $full. Free some space (delete files or projects you no longer need) or ask the operator for a larger volume, then start again.$3"
	fi
	fail 1 "$4"
}
if [ -z "$home" ]; then
	if ! errors=$(mkdir "$copy" 2>&1); then
		seed_failed "$errors" "could not create project $project" "" \
			"could not create the empty project $project; is the volume writable by this user (uid $(uid))?"
	fi
elif ! errors=$(cp -a "$source_dir/." "$copy" 2>&1 >/dev/null); then
	seed_failed "$errors" "could not copy the image's home folder into project $project" " Project $project was not created." \
		"could not copy the image's home folder into project $project: the volume may be full (no space left), or this user may not write the volume or read the image's home folder. Free some space (delete files or projects you no longer need) or ask the operator for a larger volume, then start again. Project $project was not created."
fi

# Rename into place. mv -T (GNU and busybox) never moves into an existing folder: rename(2) fails on a
# non-empty folder of that name (an empty one, which could only have appeared in the last instant, is
# replaced).
if mv -T "$copy" "./$project" 2>/dev/null; then
	:
elif exists "./$project"; then
	# Another start of the same project (a second server on the same volume) was faster: keep its copy.
	remove_tree "$work" || :
	log "project $project appeared while copying (another start?); keeping it, copying nothing"
	r_project=existed
	[ -z "$want_update" ] || r_update=not-needed
	exit 0
else
	# An mv without -T: the folder was checked missing just above; if it appeared meanwhile, the copy
	# lands inside it under its unique reserved name, and is removed from there again.
	errors=$(mv "$copy" "./$project" 2>&1) || {
		print_errors "$errors"
		remove_tree "$work" || :
		fail 1 "could not rename the copy into project $project; it was not created"
	}
	if exists "./$project/${work#./}"; then
		remove_tree "./$project/${work#./}" || :
		remove_tree "$work" || :
		log "project $project appeared while copying (another start?); keeping it, copying nothing"
		r_project=existed
		[ -z "$want_update" ] || r_update=not-needed
		exit 0
	fi
fi
remove_tree "$work" || warn "could not remove ${work#./}; a later start removes it"
if [ -n "$home" ]; then
	r_project=seeded
	log "project $project is ready"
else
	r_project=seeded-empty
	log "project $project is ready (empty)"
fi
record_seed
[ -z "$want_update" ] || r_update=not-needed
