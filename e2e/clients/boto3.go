package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// runBoto3 runs the boto3 script, which prints one tab-separated line per check ("ROW",
// client, operation, PASS|FAIL|SKIP, detail), and adds its rows to the table. A script that
// does not run, or reports nothing, is a FAIL.
func runBoto3(ctx context.Context, m *matrix, t target, python, script string) {
	cmd := exec.CommandContext(ctx, python, script)
	cmd.Env = append(os.Environ(), "S3_ENDPOINT="+t.endpoint, "AWS_ACCESS_KEY_ID="+t.accessKey,
		"AWS_SECRET_ACCESS_KEY="+t.secretKey, "AWS_DEFAULT_REGION="+t.region, "MATRIX_MAX_SIZE="+fmt.Sprint(t.maxSize),
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	rows := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.SplitN(sc.Text(), "\t", 5)
		if len(f) != 5 || f[0] != "ROW" {
			continue
		}
		m.add(row{client: f[1], op: f[2], result: f[3], detail: f[4]})
		rows++
	}
	if err != nil || rows == 0 {
		tail := stderr.String()
		if len(tail) > 400 {
			tail = tail[len(tail)-400:]
		}
		m.add(row{client: "boto3", op: "run " + script, result: "FAIL", detail: fmt.Sprintf("%v, %d rows: %s", err, rows, tail)})
	}
}
