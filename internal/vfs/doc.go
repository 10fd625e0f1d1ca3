// Package vfs is the file-system seam under NebulaIO's storage packages: the write-ahead log
// (wal), the snapshot store (snapshot) and the blob store. Every file operation they make goes
// through an FS, so that a test can make any write, sync or rename fail, or cut the power and
// see what survives. The durability primitives those packages need (atomic replace of a small
// file, fsync of a directory, a lock file) live here once.
//
// # The seam
//
// FS has seven methods (OpenFile, Rename, Remove, MkdirAll, ReadDir, SyncDir, Lock) and File
// eleven (Write, ReadAt, WriteAt, WriteVAt, Name, Stat, Truncate, Allocate, Sync, Datasync,
// Close); their comments in fs.go are the contract. What every implementation must guarantee,
// and what the storage packages' crash models build on:
//
//   - Sync returns only when the file's data and metadata are durable; Datasync when its data
//     and its size are (not its times). Bytes written and not yet synced may be lost in a crash,
//     wholly or in part.
//   - A create, rename or remove is durable only after SyncDir of the directory holding the name
//     (both directories for a rename). Rename replaces its target atomically.
//   - After any error from a write or a sync, the state of the file's unsynced bytes is unknown:
//     a failed sync may have dropped them (Linux marks the pages clean). Callers must not retry
//     the sync and assume the earlier writes are durable.
//   - Lock is exclusive between holders (processes, for OS) until closed.
//   - Errors are *fs.PathError (or *os.LinkError for Rename) around an errno, as from package
//     os; errors.Is(err, fs.ErrNotExist) and friends work.
//
// A file system may also report its size and free space (SpaceFS, statfs(2) on OS): DiskSpace
// asks for it, and fails with errors.ErrUnsupported when the FS cannot tell. It is apart from FS
// because only the data plane's free-space reserve needs it.
//
// A File may also implement syscall.Conn (OS files do); RawConn finds it. The WAL uses it only
// to map a segment read-only at Open and falls back to ReadAt without it.
//
// # Implementations
//
//   - OS: the operating system (Linux). Datasync is fdatasync(2), Allocate fallocate(2),
//     WriteVAt pwritev(2), Lock flock(2).
//   - NoSync(fs): fs with Sync, Datasync and SyncDir as no-ops, for tests and benchmarks that
//     run without durability.
//   - Mem: in memory, remembering what is durable. Crash returns the state a power cut would
//     leave under the crash model above, in its harshest form: every unsynced write lost, every
//     name change not followed by SyncDir undone (directories made by MkdirAll are durable at
//     once). The crashed Mem fails every later call with ErrCrashed. Stops (Restart, PowerCut)
//     names the two ways a test reopens a store on a Mem: as after a process exit (everything
//     written survives) or after a power cut. SetCapacity makes it a small disk: a write that
//     would grow its files past the capacity stores what fits and fails with ErrNoSpace, while
//     rewriting bytes a file has still succeeds (as on a real disk, where those blocks are
//     allocated); Space reports what is left.
//   - Faulty: wraps another FS (OS, or Mem to combine faults with Crash) and fails the
//     operations an injected Fault selects: by kind (Op: open, read, write, sync, directory
//     sync, rename, remove, truncate/allocate, mkdir), by path (Fault.Path, see MatchBase; an
//     open file is matched by its current name, renames made through Faulty included), the
//     Nth match (After) for a number of times (Count, 0 for ever), with an error (ErrIO by
//     default, ErrNoSpace, or any), and optionally as a short (torn) write of half the bytes. A
//     failing operation does not reach the inner FS: a failed sync syncs nothing.
//
// Mem and Faulty are for tests, but live in non-test files so that every package's tests can use
// them; nothing here imports "testing".
//
// # Errors
//
// ErrNoSpace is syscall.ENOSPC itself and ErrIO is syscall.EIO: errors.Is(err, vfs.ErrNoSpace)
// is true for a full disk reported by the OS and for one injected by Faulty, through every %w
// the storage packages add. Upper layers map it to "insufficient storage" (S3 507) that way.
// ErrLocked is wrapped by Lock; ErrCrashed is returned by a Mem after Crash.
//
// # Helpers
//
// ReadFile reads a whole file. WriteFile replaces a small file atomically and durably (write
// name.tmp, fsync, rename over name, fsync the directory); callers remove leftover *.tmp files
// (TempSuffix) when they open. CreateTemp creates a uniquely named file, as os.CreateTemp.
package vfs
