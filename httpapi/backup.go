package httpapi

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"time"
)

// BackupRoute is the admin route that streams a metadata backup (bearer token required).
const BackupRoute = "GET /api/v1/admin/backup"

// Backup is what the backup route needs of the node.
type Backup interface {
	// Backup makes a backup and returns it, ready to stream; the route closes its Body.
	// Errors are mapped to HTTP by APIError, as for Cluster.
	Backup(ctx context.Context) (BackupFile, error)
}

// BackupFile is a finished backup archive.
type BackupFile struct {
	Name   string // a file name for Content-Disposition
	Size   int64
	SHA256 string // hex, of the Size bytes of Body
	Body   io.ReadCloser
}

// Bounds of the backup route, which does not fit the admin listener's whole-request
// timeouts: taking the backup may take minutes on a large state, and so may sending it.
const (
	backupTimeout       = 30 * time.Minute // to take the backup (raft snapshot and archive)
	backupWriteProgress = 30 * time.Second // each write of the response must make progress
)

// BackupSHA256Header carries the archive's SHA-256, so that a client checks what it received.
const BackupSHA256Header = "X-Nebulaio-Backup-Sha256"

func registerBackupAPI(mux *http.ServeMux, token string, b Backup) {
	mux.Handle(BackupRoute, requireToken(token, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		_ = rc.SetWriteDeadline(time.Now().Add(backupTimeout + backupWriteProgress))
		ctx, cancel := context.WithTimeout(r.Context(), backupTimeout)
		defer cancel()
		f, err := b.Backup(ctx)
		if err != nil {
			writeError(w, err)
			return
		}
		defer f.Body.Close()
		h := w.Header()
		h.Set("Content-Type", "application/gzip")
		h.Set("Content-Length", strconv.FormatInt(f.Size, 10))
		h.Set("Content-Disposition", `attachment; filename="`+f.Name+`"`)
		h.Set(BackupSHA256Header, f.SHA256)
		w.WriteHeader(http.StatusOK)
		buf := make([]byte, 1<<20)
		for {
			n, rerr := f.Body.Read(buf)
			if n > 0 {
				_ = rc.SetWriteDeadline(time.Now().Add(backupWriteProgress))
				if _, err := w.Write(buf[:n]); err != nil {
					return // the client went away; nothing else to tell it
				}
			}
			if rerr != nil {
				return // io.EOF; a read error after the headers shows as a short body
			}
		}
	})))
}
