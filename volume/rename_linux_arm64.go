package volume

// sysRenameat2 is renameat2(2) on linux/arm64.
const sysRenameat2 = 276
