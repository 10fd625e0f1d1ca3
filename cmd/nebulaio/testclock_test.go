package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/nebulaio/nebulaio/internal/testutil"
)

func TestOffsetClockFollowsTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "offset")
	c := &offsetClock{path: path}
	near := func(want time.Duration) error {
		if got := time.Until(c.Now()); got < want-time.Second || got > want+time.Second {
			return fmt.Errorf("clock is %s ahead, want %s", got.Round(time.Millisecond), want)
		}
		return nil
	}
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.refresh(); err != nil {
		t.Fatalf("missing file: %v", err)
	}
	if err := near(0); err != nil {
		t.Fatalf("missing file: %v", err)
	}
	write("1h\n")
	if err := c.refresh(); err != nil || near(time.Hour) != nil {
		t.Fatalf("after writing 1h: %v, %v", err, near(time.Hour))
	}
	write("soon")
	if err := c.refresh(); err == nil || !strings.Contains(err.Error(), testClockEnv) {
		t.Fatalf("a bad duration: err = %v, want one naming %s", err, testClockEnv)
	}
	if err := near(time.Hour); err != nil {
		t.Fatalf("a bad duration changed the offset: %v", err)
	}
	write("")
	if err := c.refresh(); err != nil || near(0) != nil {
		t.Fatalf("an empty file: %v, %v", err, near(0))
	}

	// The poller picks up a change without being asked.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.run(ctx, func(error) {})
	write("-10m")
	testutil.WaitFor(t, 5*time.Second, "the poller reads -10m", func() error { return near(-10 * time.Minute) })
}

// TestServerClockHook runs the real server with NEBULAIO_TEST_CLOCK_OFFSET_FILE: a step of
// ten minutes moves the times of new objects by ten minutes and is still within the signature
// skew S3 allows; a step of an hour makes the node refuse requests signed with the real time
// (RequestTimeTooSkewed); removing the offset makes it serve again.
func TestServerClockHook(t *testing.T) {
	dir := t.TempDir()
	offset := filepath.Join(dir, "clock")
	cmd := command(t, "server", "--admin.address=127.0.0.1:0", "--s3.address=127.0.0.1:0", "--cluster.raft_address=127.0.0.1:0",
		"--cluster.gossip_address=127.0.0.1:0", "--log.format=json", "--data_dir="+filepath.Join(dir, "data"))
	cmd.Env = append(cmd.Env, testClockEnv+"="+offset)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
	}()
	banner := readBanner(t, stdout)
	admin := regexp.MustCompile(`Admin:\s+http://(\S+)`).FindStringSubmatch(banner)
	key := regexp.MustCompile(`AccessKey:\s+(\S+)`).FindStringSubmatch(banner)
	secret := regexp.MustCompile(`SecretKey:\s+(\S+)`).FindStringSubmatch(banner)
	s3addr := regexp.MustCompile(`S3:\s+http://(\S+)`).FindStringSubmatch(banner)
	if admin == nil || key == nil || secret == nil || s3addr == nil {
		t.Fatalf("banner lacks an address or a key:\n%s", banner)
	}
	testutil.WaitFor(t, 15*time.Second, "/health/ready", func() error {
		if code, body := get(t, "http://"+admin[1]+"/health/ready"); code != http.StatusOK {
			return fmt.Errorf("status %d: %s", code, body)
		}
		return nil
	})
	client := s3.New(s3.Options{
		BaseEndpoint: aws.String("http://" + s3addr[1]), Region: "us-east-1", UsePathStyle: true,
		Credentials: awscreds.NewStaticCredentialsProvider(key[1], secret[1], ""),
		Retryer:     aws.NopRetryer{}, // the SDK would otherwise correct its clock and retry
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("clock")}); err != nil {
		t.Fatalf("CreateBucket: %v", err)
	}
	put := func(k string) error {
		_, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("clock"), Key: aws.String(k), Body: strings.NewReader(k)})
		return err
	}
	setOffset := func(s string) {
		if err := os.WriteFile(offset, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	setOffset("10m")
	testutil.WaitFor(t, 10*time.Second, "an object stamped ten minutes ahead", func() error {
		if err := put("ahead"); err != nil {
			return err
		}
		h, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("clock"), Key: aws.String("ahead")})
		if err != nil {
			return err
		}
		if ahead := time.Until(*h.LastModified); ahead < 9*time.Minute || ahead > 11*time.Minute {
			return fmt.Errorf("LastModified is %s ahead", ahead.Round(time.Second))
		}
		return nil
	})

	setOffset("1h")
	testutil.WaitFor(t, 10*time.Second, "RequestTimeTooSkewed", func() error {
		err := put("skewed")
		var ae smithy.APIError
		if errors.As(err, &ae) && ae.ErrorCode() == "RequestTimeTooSkewed" {
			return nil
		}
		return fmt.Errorf("PUT with the node an hour ahead: %v", err)
	})

	if err := os.Remove(offset); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "writes accepted again", func() error { return put("back") })
}
