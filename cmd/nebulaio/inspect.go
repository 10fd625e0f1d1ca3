package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/dustin/go-humanize"

	"github.com/nebulaio/nebulaio/dataplane/blob"
	"github.com/nebulaio/nebulaio/snapshot"
	"github.com/nebulaio/nebulaio/wal"
)

// The inspect commands read a stopped node's files (a running node's too: they change
// nothing and take no lock, but see a moment's state) and exit 1 when they find damage.
//
//	nebulaio wal inspect|verify DIR
//	nebulaio snapshot inspect DIR
//	nebulaio blob verify DIR
//
// DIR may be the data directory (data_dir) or the directory of the files itself.

// runWAL is `nebulaio wal inspect|verify DIR`.
func runWAL(args []string, stdout, stderr io.Writer) int {
	sub, dir, code := inspectArgs("wal", []string{"inspect", "verify"}, args, stderr, `usage: nebulaio wal inspect|verify DIR

  inspect   list the segments (index ranges, terms, sizes, sealed or active, compressed
            records), the head, raft's term and vote, and every damaged record
  verify    check every record (header and body CRCs, decompression, index order across
            segments) and list only what is damaged

DIR is a data directory or its raft/wal directory. Exit code 1 when damage is found (a torn
tail of the last segment, which the node truncates at start, is reported but is not damage).
`)
	if code >= 0 {
		return code
	}
	dir = resolveDir(dir, filepath.Join("raft", "wal"), "wal")
	if !holdsFile(dir, ".wal", "stable", "head") {
		fmt.Fprintf(stderr, "nebulaio: no WAL files in %s: give a data directory or its raft/wal directory\n", dir)
		return 1
	}
	p := newProgress(stderr, "wal "+sub, true)
	rep, err := wal.Inspect(dir, wal.InspectOptions{Progress: p.update})
	took := p.done()
	if err != nil {
		fmt.Fprintf(stderr, "nebulaio: %v\n", err)
		return 1
	}
	if sub == "inspect" {
		fmt.Fprintf(stdout, "WAL %s\n", dir)
		fmt.Fprintf(stdout, "  entries:  %s\n  head:     %d\n  term:     %d (last vote: term %d for %q)\n", indexRange(rep.FirstIndex, rep.LastIndex), rep.Head,
			rep.Stable.CurrentTerm, rep.Stable.LastVoteTerm, rep.Stable.LastVoteCand)
		fmt.Fprintf(stdout, "  other:    spare segment %v, %d recycled, %d temporary\n\n", rep.Spare, rep.Recycled, rep.Temp)
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SEGMENT\tFIRST\tLAST\tRECORDS\tTERMS\tDATA\tFILE\tSTATE\tCOMPRESSED")
		for _, s := range rep.Segments {
			state := "active"
			switch {
			case s.BelowHead:
				state = "below head"
			case s.Damaged:
				state = "damaged"
			case s.Sealed:
				state = "sealed"
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d-%d\t%s\t%s\t%s\t%d\n", s.File, s.First, s.Last(), s.Records, s.FirstTerm, s.LastTerm,
				humanize.IBytes(uint64(s.DataEnd)), humanize.IBytes(uint64(s.Size)), state, s.Compressed)
		}
		_ = tw.Flush()
	}
	for _, d := range rep.Problems {
		fmt.Fprintln(stdout, d.String())
	}
	corrupt := 0
	for _, d := range rep.Problems {
		if !d.Torn {
			corrupt++
		}
	}
	fmt.Fprintf(stdout, "wal %s: %d segments, entries %s, %s; %d damaged, %d torn tail(s); %s\n", dir, len(rep.Segments),
		indexRange(rep.FirstIndex, rep.LastIndex), humanize.IBytes(uint64(rep.Bytes)), corrupt, len(rep.Problems)-corrupt, elapsed(took))
	if rep.Corrupt() {
		return 1
	}
	return 0
}

// runSnapshot is `nebulaio snapshot inspect DIR`.
func runSnapshot(args []string, stdout, stderr io.Writer) int {
	_, dir, code := inspectArgs("snapshot", []string{"inspect"}, args, stderr, `usage: nebulaio snapshot inspect DIR

  inspect   list the snapshots (index, term, raft configuration, runs, size) and the run files
            (base or delta, chunks, records, raw and compressed size, compression ratio), and
            verify every manifest and every chunk of every run

DIR is a data directory or its raft/snapshots directory. Exit code 1 when damage is found.
`)
	if code >= 0 {
		return code
	}
	dir = resolveDir(dir, filepath.Join("raft", "snapshots"), "snapshots")
	if filepath.Base(dir) != "snapshots" && !holdsFile(dir, ".manifest", ".run") {
		fmt.Fprintf(stderr, "nebulaio: no snapshot files in %s: give a data directory or its raft/snapshots directory\n", dir)
		return 1
	}
	p := newProgress(stderr, "snapshot inspect", true)
	rep, err := snapshot.Inspect(dir, snapshot.InspectOptions{Progress: p.update})
	took := p.done()
	if err != nil {
		fmt.Fprintf(stderr, "nebulaio: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "Snapshots %s\n\n", dir)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SNAPSHOT\tINDEX\tTERM\tRUNS\tSIZE\tRECORDS\tSERVERS")
	for _, s := range rep.Snapshots {
		records := "-"
		if s.Records >= 0 {
			records = humanize.Comma(s.Records)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\t%s\n", s.ID, s.Index, s.Term, len(s.Runs), humanize.IBytes(uint64(s.Bytes)), records, strings.Join(s.Servers, ", "))
	}
	fmt.Fprintln(tw, "\t\t\t\t\t\t")
	fmt.Fprintln(tw, "RUN\tKIND\tCHUNKS\tRECORDS\tTOMBSTONES\tRAW\tFILE\tRATIO\tSNAPSHOTS")
	for _, r := range rep.Runs {
		used := strings.Join(r.Snapshots, ", ")
		if used == "" {
			used = "(none: removed at the next start)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%.1f\t%s\n", r.File, r.Kind, r.Chunks, humanize.Comma(r.Records), humanize.Comma(r.Tombstones),
			humanize.IBytes(uint64(r.RawBytes)), humanize.IBytes(uint64(r.FileBytes)), r.Ratio(), used)
	}
	_ = tw.Flush()
	for _, name := range rep.SetAside {
		fmt.Fprintf(stdout, "set aside earlier (not read by the node): %s\n", name)
	}
	for _, pr := range rep.Problems {
		fmt.Fprintf(stdout, "damaged: %s\n", pr)
	}
	fmt.Fprintf(stdout, "snapshot %s: %d snapshots, %d runs, %s on disk (%s raw, ratio %.1f), %d temporary; %d damaged; %s\n", dir,
		len(rep.Snapshots), len(rep.Runs), humanize.IBytes(uint64(rep.Bytes)), humanize.IBytes(uint64(rep.RawBytes)), rep.Ratio(), rep.Temp,
		len(rep.Problems), elapsed(took))
	if len(rep.Problems) > 0 {
		return 1
	}
	return 0
}

// runBlob is `nebulaio blob verify DIR`.
func runBlob(args []string, stdout, stderr io.Writer) int {
	_, dir, code := inspectArgs("blob", []string{"verify"}, args, stderr, `usage: nebulaio blob verify DIR

  verify    read every blob and check its header, length, every block CRC, its CRC32C, MD5
            and SHA-256; list each damaged blob by ID and path, and files that are no blob

DIR is a data directory or its blobs directory (the one holding blobs/ and tmp/). Exit code 1
when damage is found.
`)
	if code >= 0 {
		return code
	}
	if isDir(filepath.Join(dir, "blobs", "blobs")) { // a data directory
		dir = filepath.Join(dir, "blobs")
	}
	p := newProgress(stderr, "blob verify", true)
	rep, err := blob.VerifyDir(dir, blob.VerifyOptions{Progress: p.update})
	took := p.done()
	if err != nil {
		fmt.Fprintf(stderr, "nebulaio: %v\n", err)
		return 1
	}
	for _, pr := range rep.Problems {
		fmt.Fprintf(stdout, "damaged: %s\n", pr)
	}
	fmt.Fprintf(stdout, "blob %s: %s blobs verified, %s of data; %d damaged; %d temporary files; %s\n", dir, humanize.Comma(int64(rep.Blobs)),
		humanize.IBytes(uint64(rep.DataBytes)), len(rep.Problems), rep.Temp, elapsed(took))
	if len(rep.Problems) > 0 {
		return 1
	}
	return 0
}

// inspectArgs parses `<cmd> <sub> DIR`; code is -1 to go on, else the exit code.
func inspectArgs(cmd string, subs, args []string, stderr io.Writer, usage string) (sub, dir string, code int) {
	fs := flag.NewFlagSet("nebulaio "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return "", "", 0
		}
		return "", "", 2
	}
	rest := fs.Args()
	if len(rest) != 2 {
		fs.Usage()
		return "", "", 2
	}
	for _, s := range subs {
		if rest[0] == s {
			return s, rest[1], -1
		}
	}
	fmt.Fprintf(stderr, "nebulaio %s: unknown subcommand %q\n\n", cmd, rest[0])
	fs.Usage()
	return "", "", 2
}

// resolveDir finds the files under a data directory: dir/inData when it exists, else
// dir/short (a raft directory given for wal or snapshots), else dir itself.
func resolveDir(dir, inData, short string) string {
	for _, d := range []string{filepath.Join(dir, inData), filepath.Join(dir, short)} {
		if isDir(d) {
			return d
		}
	}
	return dir
}

// holdsFile reports whether dir holds a file whose name ends with one of suffixes (or is one).
func holdsFile(dir string, suffixes ...string) bool {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range ents {
		for _, s := range suffixes {
			if strings.HasSuffix(e.Name(), s) {
				return true
			}
		}
	}
	return false
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

func indexRange(first, last uint64) string {
	if first == 0 && last == 0 {
		return "none"
	}
	return fmt.Sprintf("%d..%d", first, last)
}
