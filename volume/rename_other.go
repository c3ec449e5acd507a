//go:build !(linux && (amd64 || arm64))

package volume

// sysRenameat2 is 0 where renameat2(2) is not wired: renameNoReplace checks, then renames.
const sysRenameat2 = 0
