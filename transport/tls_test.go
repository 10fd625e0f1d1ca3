package transport

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"testing"
)

func TestMutualTLS(t *testing.T) {
	pki := newTestPKI(t)
	sTLS, sClient := pki.mutualTLS(t, "server")
	cTLS, cClient := pki.mutualTLS(t, "client")
	srv := newNode(t, Config{TLS: sTLS, ClientTLS: sClient})
	cli := newNode(t, Config{TLS: cTLS, ClientTLS: cClient})
	srv.Handle("echo", echo)
	srv.HandleDownload("get", func(_ context.Context, h []byte, w io.Writer) error {
		_, err := w.Write(bytes.Repeat(h, 100000))
		return err
	})
	if resp, err := cli.Call(context.Background(), srv.Addr(), "echo", []byte("secret")); err != nil || string(resp) != "secret" {
		t.Fatalf("Call over mutual TLS: %q %v", resp, err)
	}
	rc, err := cli.OpenStream(context.Background(), srv.Addr(), "get", []byte("ab"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(rc)
	_ = rc.Close()
	if err != nil || len(b) != 200000 {
		t.Fatalf("download over TLS: %d bytes, %v", len(b), err)
	}

	other := newTestPKI(t)
	_, foreign := other.mutualTLS(t, "intruder")
	noCert := &tls.Config{RootCAs: pki.pool, MinVersion: tls.VersionTLS13}
	tests := []struct {
		name   string
		client *tls.Config
	}{
		{name: "no client certificate", client: noCert},
		{name: "certificate from another CA", client: foreign},
		{name: "plain TCP to a TLS listener", client: nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bad := newNode(t, Config{ClientTLS: tc.client, HandshakeTimeout: 2e9, CallTimeout: 3e9})
			_, err := bad.Call(context.Background(), srv.Addr(), "echo", []byte("x"))
			if err == nil {
				t.Fatal("call without a valid client certificate succeeded")
			}
			if !errors.Is(err, ErrUnreachable) {
				t.Fatalf("err = %v, want ErrUnreachable (the dial is refused)", err)
			}
		})
	}
	if _, err := cli.Call(context.Background(), srv.Addr(), "echo", []byte("still")); err != nil {
		t.Fatalf("server stopped serving after rejected clients: %v", err)
	}
}

func TestMetricsReported(t *testing.T) {
	m := newRecMetrics(t)
	srv := newNode(t, Config{Metrics: m})
	cli := newNode(t, Config{Metrics: m})
	srv.Handle("echo", echo)
	if _, err := cli.Call(context.Background(), srv.Addr(), "echo", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Call(context.Background(), srv.Addr(), "missing", nil); err == nil {
		t.Fatal("call to a missing method succeeded")
	}
	for _, d := range MetricDescs {
		if _, ok := m.get(d.Name); !ok {
			t.Errorf("metric %s (%s) never reported", d.Name, d.Kind)
		}
	}
	if v, _ := m.get(MetricRPCErrors); v != 1 {
		t.Errorf("%s = %v, want 1", MetricRPCErrors, v)
	}
	// Both transports report their own count into m, so only a lower bound is certain.
	if v, _ := m.get(MetricConnections); v < 1 {
		t.Errorf("%s = %v, want >= 1", MetricConnections, v)
	}
}
