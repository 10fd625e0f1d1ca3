package snapshot

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/nebulaio/nebulaio/internal/vfs"
)

// InspectOptions configure Inspect.
type InspectOptions struct {
	// FS is the file system (nil: the operating system's).
	FS vfs.FS
	// Progress, if not nil, is called after each chunk with the run bytes read so far and the
	// total.
	Progress func(done, total int64)
}

// SnapshotInfo describes one manifest as Inspect found it.
type SnapshotInfo struct {
	ID          string
	Index, Term uint64
	// Servers are the raft configuration's members ("id@address", non-voters marked).
	Servers []string
	// Runs are its run files, base first; Bytes their size on disk.
	Runs  []string
	Bytes int64
	// Records and DataSize describe its merged view (-1 until a reader sized it).
	Records, DataSize int64
	// Parent is the snapshot a delta stream named ("" for a full one).
	Parent string
}

// RunInfo describes one run file.
type RunInfo struct {
	File                string
	Kind                string // "base" or "delta"
	Version             int
	Chunks              int
	Records, Tombstones int64
	// RawBytes is the records' size before compression; FileBytes the file's size.
	RawBytes, FileBytes int64
	// Snapshots are the IDs of the manifests that name the run (none: an orphan, which the
	// store deletes at its next publish or open).
	Snapshots []string
}

// Ratio is the run's compression ratio: raw record bytes per byte on disk.
func (r RunInfo) Ratio() float64 {
	if r.FileBytes == 0 {
		return 0
	}
	return float64(r.RawBytes) / float64(r.FileBytes)
}

// Problem is one defect Inspect found; Err wraps ErrCorrupt or ErrTruncated for damage.
type Problem struct {
	File string
	Err  error
}

func (p Problem) String() string { return fmt.Sprintf("%s: %v", p.File, p.Err) }

// InspectReport is what Inspect found in a snapshot store's directory.
type InspectReport struct {
	Dir       string
	Snapshots []SnapshotInfo // newest first, as List orders them
	Runs      []RunInfo      // by name
	// Bytes and RawBytes total the run files on disk and their records uncompressed.
	Bytes, RawBytes int64
	// Temp counts *.tmp files (a snapshot being written, or leftovers NewStore deletes);
	// SetAside lists *.corrupt manifests NewStore set aside.
	Temp     int
	SetAside []string
	Problems []Problem
}

// Ratio is the store's compression ratio: raw record bytes per byte of run files.
func (r InspectReport) Ratio() float64 {
	if r.Bytes == 0 {
		return 0
	}
	return float64(r.RawBytes) / float64(r.Bytes)
}

// Inspect reads a snapshot store's directory without changing anything or taking part in
// its life (no Store is opened: nothing is deleted, renamed or set aside), and verifies it
// entirely: every manifest (its checksum, and that the runs it names exist with the kinds
// their position wants), every run's header, footer and index, and every chunk of every run
// (its CRC, its decompression, its records against the index). Each defect is reported with
// its file; Inspect's own error is for a directory it cannot read.
func Inspect(dir string, opts InspectOptions) (InspectReport, error) {
	rep := InspectReport{Dir: dir}
	fsys := opts.FS
	if fsys == nil {
		fsys = vfs.OS
	}
	entries, err := fsys.ReadDir(dir)
	if err != nil {
		return rep, fmt.Errorf("snapshot: inspect: %w", err)
	}
	var manifests []*manifest
	runs := map[string]*RunInfo{}
	var total int64
	for _, e := range entries {
		name := e.Name()
		switch {
		case isTemp(name):
			rep.Temp++
		case strings.HasSuffix(name, ".corrupt"):
			rep.SetAside = append(rep.SetAside, name)
		case runPattern.MatchString(name):
			fi, err := e.Info()
			if err != nil {
				return rep, fmt.Errorf("snapshot: inspect: %w", err)
			}
			runs[name] = &RunInfo{File: name, FileBytes: fi.Size()}
			total += fi.Size()
		case strings.HasSuffix(name, manifestSuffix):
			b, err := vfs.ReadFile(fsys, filepath.Join(dir, name))
			if err == nil {
				var m *manifest
				if m, err = decodeManifest(name, b); err == nil {
					manifests = append(manifests, m)
				}
			}
			if err != nil {
				rep.Problems = append(rep.Problems, Problem{File: name, Err: err})
			}
		}
	}
	sort.Slice(manifests, func(i, j int) bool { return newer(manifests[i], manifests[j]) })

	var done int64
	progress := func(n int64) {
		done += n
		if opts.Progress != nil {
			opts.Progress(done, total)
		}
	}
	kinds := map[string]byte{}
	names := make([]string, 0, len(runs))
	for name := range runs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		ri := runs[name]
		kind, err := inspectRun(fsys, filepath.Join(dir, name), ri, progress)
		if err != nil {
			rep.Problems = append(rep.Problems, Problem{File: name, Err: err})
		}
		kinds[name] = kind
		rep.Bytes += ri.FileBytes
		rep.RawBytes += ri.RawBytes
	}

	for _, m := range manifests {
		si := SnapshotInfo{ID: m.ID, Index: m.Index, Term: m.Term, Runs: m.Runs, Records: m.Records, DataSize: m.DataSize, Parent: m.Parent}
		for _, s := range m.Configuration.Servers {
			desc := string(s.ID) + "@" + string(s.Address)
			if s.Suffrage != 0 { // raft.Voter is 0
				desc += " (" + s.Suffrage.String() + ")"
			}
			si.Servers = append(si.Servers, desc)
		}
		for i, name := range m.Runs {
			ri, ok := runs[name]
			if !ok {
				rep.Problems = append(rep.Problems, Problem{File: m.ID + manifestSuffix, Err: fmt.Errorf("%w: names run %s, which does not exist", ErrCorrupt, name)})
				continue
			}
			want := byte(runKindDelta)
			if i == 0 {
				want = runKindBase
			}
			if k := kinds[name]; k != 0 && k != want {
				rep.Problems = append(rep.Problems, Problem{File: m.ID + manifestSuffix, Err: fmt.Errorf("%w: run %s has the wrong kind for position %d", ErrCorrupt, name, i)})
			}
			ri.Snapshots = append(ri.Snapshots, m.ID)
			si.Bytes += ri.FileBytes
		}
		rep.Snapshots = append(rep.Snapshots, si)
	}
	for _, name := range names {
		rep.Runs = append(rep.Runs, *runs[name])
	}
	return rep, nil
}

// inspectRun reads one run file: its index into ri, then every chunk. It returns the run's
// kind (0 when its index cannot be read) and the first defect.
func inspectRun(fsys vfs.FS, path string, ri *RunInfo, progress func(int64)) (byte, error) {
	f, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		progress(ri.FileBytes)
		return 0, err
	}
	defer f.Close()
	ix, err := readRunIndex(ri.File, f, ri.FileBytes)
	if err != nil {
		progress(ri.FileBytes)
		return 0, err
	}
	ri.Kind = "base"
	if ix.kind == runKindDelta {
		ri.Kind = "delta"
	}
	ri.Version, ri.Chunks, ri.Records, ri.Tombstones, ri.RawBytes = int(ix.version), len(ix.chunks), ix.records, ix.tombstones, ix.rawSize
	var comp, raw []byte
	var first error
	read := int64(0)
	for i := range ix.chunks {
		var err error
		raw, comp, err = readChunk(ix, f, i, comp, raw)
		if err == nil {
			err = verifyChunk(ix, i, raw)
		}
		if err != nil && first == nil {
			first = err
		}
		read += ix.chunks[i].compLen
		progress(ix.chunks[i].compLen)
	}
	progress(ri.FileBytes - read) // header, index and footer
	return ix.kind, first
}
