#!/bin/sh
# binder-projects init container script (POSIX sh: dash, bash, busybox ash).
#
# Runs in the project's own image, as the notebook's user, with the user's volume mounted at
# $BINDER_PROJECTS_ROOT. It
#   1. checks every input (and refuses to do anything if one is bad),
#   2. removes the temporary and trash folders that earlier killed runs of this script left behind,
#   3. deletes the project folders queued in $BINDER_PROJECTS_DELETE,
#   4. seeds the project folder $BINDER_PROJECTS_PROJECT from the image's home $BINDER_PROJECTS_SOURCE,
#      only if no entry of that name exists, by copying into a temporary folder on the volume and
#      renaming it into place, so a killed copy never looks like a complete project.
#
# Inputs come only from the environment, never from the script text:
#   BINDER_PROJECTS_ROOT     absolute path where the user's volume is mounted, e.g. /projects
#   BINDER_PROJECTS_PROJECT  the project folder name
#   BINDER_PROJECTS_SOURCE   absolute path of the image's home to seed from, e.g. /home/jovyan
#   BINDER_PROJECTS_DELETE   project folder names to delete first, separated by spaces, tabs or
#                            newlines; may be empty or unset
# A folder name is 1 to 255 bytes of [A-Za-z0-9._-] and does not start with a dot.
#
# Exit status: 0 done; 1 the copy or a deletion failed; 2 a bad input (nothing was changed). Leftovers
# that cannot be removed are only warned about: the next run tries again.
# Log lines start with "binder-projects: "; they name project folders but print no other input.
#
# The only names this script creates at the volume root are the reserved ones below (they start with a
# dot, which no project folder name can); nothing else at the root is ever touched except the named
# project folders.

set -eu
IFS=' 	
'
unset CDPATH || :

tmp_prefix=.binder-projects-tmp.
trash_prefix=.binder-projects-trash.

log() {
	printf 'binder-projects: %s\n' "$*"
}

warn() {
	printf 'binder-projects: warning: %s\n' "$*" >&2
}

# fail STATUS MESSAGE...
fail() {
	status=$1
	shift
	printf 'binder-projects: error: %s\n' "$*" >&2
	exit "$status"
}

# refuse MESSAGE...: a bad input. Nothing has been changed when this is called.
refuse() {
	fail 2 "$*; nothing was changed"
}

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

# exists PATH: whether any entry is at PATH, including a dangling symbolic link.
exists() {
	[ -e "$1" ] || [ -L "$1" ]
}

# remove_tree PATH: removes PATH and everything below it, never following a symbolic link. A folder
# that has lost its write permission (rm cannot empty it) is made writable first, without following
# links, and only folders are changed, so no file's mode is touched.
remove_tree() {
	rm -rf "$1" 2>/dev/null && return 0
	if [ -d "$1" ] && ! [ -L "$1" ] && command -v find >/dev/null 2>&1; then
		find "$1" -type d -exec chmod u+rwx {} \; 2>/dev/null || :
	fi
	errors=$(rm -rf "$1" 2>&1) && return 0
	print_errors "$errors"
	return 1
}

# make_private_dir PREFIX: creates a new folder PREFIX<random> in the current folder, prints its name.
make_private_dir() {
	if command -v mktemp >/dev/null 2>&1; then
		errors=$(mktemp -d "./${1}XXXXXX" 2>&1) && printf '%s\n' "$errors" && return 0
		print_errors "$errors"
		return 1
	fi
	n=0
	while [ "$n" -lt 100 ]; do
		if mkdir "./$1$$.$n" 2>/dev/null; then
			printf '%s\n' "./$1$$.$n"
			return 0
		fi
		n=$((n + 1))
	done
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

# --- 1. Check every input before changing anything. ---

root=${BINDER_PROJECTS_ROOT-}
project=${BINDER_PROJECTS_PROJECT-}
source_dir=${BINDER_PROJECTS_SOURCE-}
delete=${BINDER_PROJECTS_DELETE-}

[ -n "$root" ] || refuse "BINDER_PROJECTS_ROOT is not set: it must name the folder where the user's volume is mounted"
case $root in /*) ;; *) refuse "BINDER_PROJECTS_ROOT must be an absolute path" ;; esac
[ -d "$root" ] || refuse "BINDER_PROJECTS_ROOT is not a folder: is the user's volume mounted there?"

[ -n "$source_dir" ] || refuse "BINDER_PROJECTS_SOURCE is not set: it must name the image's home folder to seed projects from"
case $source_dir in /*) ;; *) refuse "BINDER_PROJECTS_SOURCE must be an absolute path" ;; esac
[ -d "$source_dir" ] || refuse "BINDER_PROJECTS_SOURCE is not a folder in this image: check the configured home folder"

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

# Work relative to the volume root from here on: every path below is "./<name>", so no name can be
# taken for an option (a project may be called "-rf") and no path is printed in full.
cd "$root" || refuse "cannot enter BINDER_PROJECTS_ROOT"

# --- 2. Remove what earlier killed runs left behind. ---
# (Two init containers on one volume at the same instant, e.g. two named servers started together,
# could remove each other's temporary folder; the victim's copy then fails, and its retry finds the
# project done or copies it again.)

for leftover in ./"$tmp_prefix"* ./"$trash_prefix"*; do
	exists "$leftover" || continue # an unmatched pattern stays as it is
	if remove_tree "$leftover"; then
		log "removed ${leftover#./}, left by an earlier interrupted run"
	else
		warn "could not remove ${leftover#./}, left by an earlier interrupted run; will retry next time"
	fi
done

# --- 3. Delete the queued project folders. ---

set -f
for name in $delete; do
	if [ -L "./$name" ]; then
		# Remove the link itself (no trailing slash: rm never follows it); its target stays.
		errors=$(rm -f "./$name" 2>&1) || {
			print_errors "$errors"
			fail 1 "could not remove project $name (a symbolic link)"
		}
		log "deleted project $name (it was a symbolic link; only the link was removed)"
	elif [ -d "./$name" ]; then
		# Rename first (atomic), so a killed run leaves a trash folder that the next run removes,
		# never a half-deleted project.
		trash=$(make_private_dir "$trash_prefix") || fail 1 "could not create a trash folder on the volume to delete project $name; is the volume writable by this user?"
		if ! errors=$(mv "./$name" "$trash/$name" 2>&1); then
			print_errors "$errors"
			rmdir "$trash" 2>/dev/null || :
			fail 1 "could not move project $name to the trash; it was not deleted"
		fi
		if remove_tree "$trash"; then
			log "deleted project $name"
		else
			warn "project $name is deleted, but some of its files could not be removed (${trash#./}); will retry next time"
		fi
	elif exists "./$name"; then
		log "not deleting $name: it is not a folder; left alone"
	else
		log "project $name queued for deletion does not exist; nothing to delete"
	fi
done
set +f

# --- 4. Seed the launched project, only if nothing of that name exists. ---

if exists "./$project"; then
	if [ -L "./$project" ]; then
		log "project $project exists (as a symbolic link); copying nothing"
	elif [ -d "./$project" ]; then
		log "project $project exists; copying nothing"
	else
		log "project $project exists (not as a folder); copying nothing"
	fi
	exit 0
fi

log "copying the image's home folder into new project $project"
tmp=$(make_private_dir "$tmp_prefix") || fail 1 "could not create a temporary folder on the volume for project $project; is the volume full or not writable by this user (uid $(id -u 2>/dev/null || echo '?'))?"

# Copy into a fresh folder inside the temporary one, so the project folder gets the home's own mode,
# owner and times. It bears the temporary folder's unique reserved name, so that nothing below can
# confuse it with a user's file. "$source_dir/." copies the home's contents even if the home is a
# symbolic link. cp's messages are kept and printed only if it fails (busybox cp warns about every
# file's owner when not root).
copy=$tmp/${tmp#./}
if errors=$(cp -a "$source_dir/." "$copy" 2>&1 >/dev/null); then
	:
else
	print_errors "$errors"
	remove_tree "$tmp" || warn "could not remove ${tmp#./}; the next start removes it"
	fail 1 "could not copy the image's home folder into project $project: the volume may be full (no space left), or this user may not write the volume or read the image's home folder. Free some space (delete files or projects you no longer need) or ask the operator for a larger volume, then start again. Project $project was not created."
fi

# Rename into place. mv -T (GNU and busybox) never moves into an existing folder: rename(2) fails on a
# non-empty folder of that name (an empty one, which could only have appeared in the last instant, is
# replaced).
if mv -T "$copy" "./$project" 2>/dev/null; then
	:
elif exists "./$project"; then
	# Another start of the same project (a second server on the same volume) was faster: keep its copy.
	remove_tree "$tmp" || :
	log "project $project appeared while copying (another start?); keeping it, copying nothing"
	exit 0
else
	# An mv without -T: the folder was checked missing just above; if it appeared meanwhile, the copy
	# lands inside it under its unique reserved name, and is removed from there again.
	errors=$(mv "$copy" "./$project" 2>&1) || {
		print_errors "$errors"
		remove_tree "$tmp" || :
		fail 1 "could not rename the copy into project $project; it was not created"
	}
	if exists "./$project/${tmp#./}"; then
		remove_tree "./$project/${tmp#./}" || :
		remove_tree "$tmp" || :
		log "project $project appeared while copying (another start?); keeping it, copying nothing"
		exit 0
	fi
fi
rmdir "$tmp" 2>/dev/null || remove_tree "$tmp" || warn "could not remove ${tmp#./}; the next start removes it"
log "project $project is ready"
