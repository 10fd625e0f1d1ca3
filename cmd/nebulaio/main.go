// Command nebulaio runs a NebulaIO node and talks to a running cluster.
//
//	nebulaio server [--config FILE] [--<key>=<value> ...]   run a node
//	nebulaio cluster nodes|health|promote|demote|remove|readmit|drain|transfer-leader|token   admin API client
//	nebulaio certs init|node                                  certificates for the raft port
//	nebulaio backup create|verify|blobs|restore              metadata backups (backup.go)
//	nebulaio recover --force-new-cluster                     disaster recovery (backup.go)
//	nebulaio wal|snapshot|blob ...                           inspect files on disk (inspect.go)
//	nebulaio admin user|key|policy ...                       users, access keys and policies
//	nebulaio version                                         print the version
//
// Every configuration key is also a flag named by its dotted path, for example
// --cluster.node_role=storage or --cluster.join_addresses=10.0.1.10:9004; flags override the file,
// and the secrets may come from NEBULAIO_ACCESS_KEY, NEBULAIO_SECRET_KEY, NEBULAIO_ADMIN_TOKEN and
// NEBULAIO_GOSSIP_KEY. See README.md for the reference.
//
// The server itself is package node (node.Open, Serve, Close); this command is the flags, the
// configuration loading, logging, signals, the banner and the admin CLI around it.
package main

import (
	"fmt"
	"io"
	"os"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one subcommand and returns the process exit code: 0 on success (including a clean
// stop on SIGINT/SIGTERM in any phase, and every --help), 1 on a runtime failure, 2 on bad usage
// or configuration.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "server":
		return runServer(args[1:], stdout, stderr)
	case "cluster":
		return runCluster(args[1:], stdout, stderr)
	case "backup":
		return runBackup(args[1:], stdout, stderr)
	case "recover":
		return runRecover(args[1:], stdout, stderr)
	case "wal":
		return runWAL(args[1:], stdout, stderr)
	case "snapshot":
		return runSnapshot(args[1:], stdout, stderr)
	case "blob":
		return runBlob(args[1:], stdout, stderr)
	case "admin":
		return runAdmin(args[1:], stdout, stderr)
	case "certs":
		return runCerts(args[1:], stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintf(stdout, "nebulaio %s\n", version)
		return 0
	case "help", "-h", "--help":
		usage(stdout)
		return 0
	default:
		fmt.Fprintf(stderr, "nebulaio: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: nebulaio <command> [flags]

commands:
  server    run a node (nebulaio server --help lists every flag)
  cluster   nodes | health | promote ID | demote ID | remove ID | readmit ID | drain ID |
            transfer-leader [ID] | token, through the admin API; new-token
            (nebulaio cluster --help)
  certs     init | node: a CA of your own and node certificates for the raft port
  backup    create --to FILE | verify FILE | blobs FILE | restore FILE --data_dir DIR
  recover   --force-new-cluster: make a stopped node the only voter (quorum lost for good)
  wal       inspect|verify DIR: the write-ahead log of a data directory
  snapshot  inspect DIR: the snapshots of a data directory
  blob      verify DIR: every blob file of a data directory
  admin     user | key | policy: S3 users, their access keys and policies (nebulaio admin --help)
  version   print the version
`)
}
