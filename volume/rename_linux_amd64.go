package volume

// sysRenameat2 is renameat2(2) on linux/amd64 (the syscall package names it only on some platforms).
const sysRenameat2 = 316
