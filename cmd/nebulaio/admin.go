package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nebulaio/nebulaio/node"
)

const adminUsage = `usage: nebulaio admin [--admin URL] [--token T] [--data_dir DIR] [--json] <command>

users (S3 identities, one access key each):
  user create NAME [--policy P]... [--access-key K] [--secret-key S]
                         create a user; prints its access key and secret key (shown once)
  user list              list users: access key, status, policies
  user info NAME         one user
  user disable NAME      its key stops authenticating (InvalidAccessKeyId) until enabled
  user enable NAME
  user delete NAME
  user attach NAME POLICY
  user detach NAME POLICY
keys:
  key list               access keys, their users and status
  key rotate NAME [--secret-key S]
                         replace the user's secret key (printed once); the old one stops at once
  key disable NAME | key enable NAME   as user disable / enable
policies (AWS IAM policy language subset, see docs/security.md):
  policy put NAME FILE   create or replace a policy from a JSON file ("-": stdin)
  policy get NAME
  policy list
  policy delete NAME     refused while a user has it attached

flags:
`

// runAdmin is `nebulaio admin user|key|policy ...`: a client of the admin API's identities
// routes (httpapi.IdentityRoutes).
func runAdmin(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("nebulaio admin", flag.ContinueOnError)
	fs.SetOutput(stderr)
	admin := fs.String("admin", envOr("NEBULAIO_ADMIN_ADDRESS", "http://127.0.0.1:9001"), "admin API base URL (env NEBULAIO_ADMIN_ADDRESS)")
	token := fs.String("token", os.Getenv("NEBULAIO_ADMIN_TOKEN"), "bearer token (env NEBULAIO_ADMIN_TOKEN; default: read from --data_dir)")
	dataDir := fs.String("data_dir", "./data", "data directory whose credentials.json holds the token when --token is not given")
	asJSON := fs.Bool("json", false, "print the raw JSON answer")
	var policies multiFlag
	fs.Var(&policies, "policy", "policy to attach (user create; repeatable)")
	accessKey := fs.String("access-key", "", "access key to use instead of a generated one (user create)")
	secretKey := fs.String("secret-key", "", "secret key to use instead of a generated one (user create, key rotate)")
	fs.Usage = func() {
		fmt.Fprint(stderr, adminUsage)
		fs.PrintDefaults()
	}
	// Flags may come before or after the words of the command.
	var words []string
	for {
		if err := fs.Parse(args); err != nil {
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		words = append(words, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if *token == "" {
		if c, err := node.ReadCredentials(*dataDir); err == nil {
			*token = c.AdminToken
		}
	}
	base := strings.TrimRight(*admin, "/")
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	esc := url.PathEscape
	word := func(i int) string { return words[i] }
	var (
		method, path string
		body         []byte
		show         = showJSON
	)
	cmd := strings.Join(words[:min(2, len(words))], " ")
	n := len(words)
	switch {
	case cmd == "user create" && n == 3:
		method, path, show = http.MethodPost, "/api/v1/admin/users", showKey
		body, _ = json.Marshal(map[string]any{"name": word(2), "policies": []string(policies), "access_key": *accessKey, "secret_key": *secretKey})
	case cmd == "user list" && n == 2:
		method, path, show = http.MethodGet, "/api/v1/admin/users", showUsers
	case cmd == "user info" && n == 3:
		method, path = http.MethodGet, "/api/v1/admin/users/"+esc(word(2))
	case (cmd == "user disable" || cmd == "user enable" || cmd == "key disable" || cmd == "key enable") && n == 3:
		method, path = http.MethodPost, "/api/v1/admin/users/"+esc(word(2))+"/"+words[1]
	case cmd == "user delete" && n == 3:
		method, path = http.MethodDelete, "/api/v1/admin/users/"+esc(word(2))
	case (cmd == "user attach" || cmd == "user detach") && n == 4:
		method, path = http.MethodPut, "/api/v1/admin/users/"+esc(word(2))+"/policies/"+esc(word(3))
		if words[1] == "detach" {
			method = http.MethodDelete
		}
	case cmd == "key list" && n == 2:
		method, path, show = http.MethodGet, "/api/v1/admin/keys", showKeys
	case cmd == "key rotate" && n == 3:
		method, path, show = http.MethodPost, "/api/v1/admin/users/"+esc(word(2))+"/rotate", showKey
		if *secretKey != "" {
			body, _ = json.Marshal(map[string]string{"secret_key": *secretKey})
		}
	case cmd == "policy put" && n == 4:
		var err error
		if word(3) == "-" {
			body, err = io.ReadAll(os.Stdin)
		} else {
			body, err = os.ReadFile(word(3))
		}
		if err != nil {
			fmt.Fprintf(stderr, "nebulaio: policy document: %v\n", err)
			return 2
		}
		method, path = http.MethodPut, "/api/v1/admin/policies/"+esc(word(2))
	case cmd == "policy get" && n == 3:
		method, path = http.MethodGet, "/api/v1/admin/policies/"+esc(word(2))
	case cmd == "policy list" && n == 2:
		method, path = http.MethodGet, "/api/v1/admin/policies"
	case cmd == "policy delete" && n == 3:
		method, path = http.MethodDelete, "/api/v1/admin/policies/"+esc(word(2))
	default:
		fs.Usage()
		return 2
	}
	if *asJSON {
		show = showJSON
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, base+path, bytes.NewReader(body))
	if err != nil {
		fmt.Fprintf(stderr, "nebulaio: %v\n", err)
		return 2
	}
	req.Header.Set("Authorization", "Bearer "+*token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "nebulaio: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		var e struct{ Code, Message string }
		if json.Unmarshal(out, &e) == nil && e.Code != "" {
			fmt.Fprintf(stderr, "nebulaio: %s (%d %s): %s\n", cmd, resp.StatusCode, e.Code, e.Message)
		} else {
			fmt.Fprintf(stderr, "nebulaio: %s: HTTP %d: %s\n", cmd, resp.StatusCode, bytes.TrimSpace(out))
		}
		return 1
	}
	if err := show(stdout, out); err != nil {
		fmt.Fprintf(stderr, "nebulaio: bad answer: %v\n", err)
		return 1
	}
	return 0
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func showJSON(w io.Writer, body []byte) error {
	var out bytes.Buffer
	if json.Indent(&out, body, "", "  ") != nil {
		out.Write(body)
	}
	_, err := fmt.Fprintln(w, strings.TrimSpace(out.String()))
	return err
}

// showKey prints a new key pair; the secret is not shown again anywhere.
func showKey(w io.Writer, body []byte) error {
	var k struct {
		User struct {
			Name     string   `json:"name"`
			Policies []string `json:"policies"`
		} `json:"user"`
		AccessKey string `json:"access_key"`
		SecretKey string `json:"secret_key"`
	}
	if err := json.Unmarshal(body, &k); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "User:      %s\nPolicies:  %s\nAccessKey: %s\nSecretKey: %s\n\nThe secret key is shown only now: store it safely (NebulaIO keeps it sealed and cannot show it again).\n",
		k.User.Name, strings.Join(k.User.Policies, ", "), k.AccessKey, k.SecretKey)
	return err
}

func showUsers(w io.Writer, body []byte) error {
	var list struct {
		Users []struct {
			Name      string   `json:"name"`
			AccessKey string   `json:"access_key"`
			Status    string   `json:"status"`
			Policies  []string `json:"policies"`
			Created   string   `json:"created"`
		} `json:"users"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tACCESS KEY\tSTATUS\tPOLICIES\tCREATED")
	for _, u := range list.Users {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.Name, u.AccessKey, u.Status, strings.Join(u.Policies, ","), u.Created)
	}
	return tw.Flush()
}

func showKeys(w io.Writer, body []byte) error {
	var list struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ACCESS KEY\tUSER\tSTATUS\tSECRET SET")
	for _, k := range list.Keys {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k["access_key"], k["user"], k["status"], k["secret_set"])
	}
	return tw.Flush()
}
