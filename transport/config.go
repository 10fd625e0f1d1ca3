package transport

import (
	"crypto/tls"
	"fmt"
	"time"

	"github.com/nebulaio/nebulaio/internal/metrics"
)

// Defaults applied by New to zero fields of Config.
const (
	DefaultBindAddr          = ":9003"
	DefaultMaxFrameSize      = 16 << 20
	DefaultCallTimeout       = 10 * time.Second
	DefaultDialTimeout       = 5 * time.Second
	DefaultHandshakeTimeout  = 10 * time.Second
	DefaultWriteTimeout      = 10 * time.Second
	DefaultStreamIdleTimeout = 30 * time.Second
	DefaultPoolSize          = 2
	DefaultMaxIdleStreams    = 64
)

// Config configures a Transport. The zero value listens on :9003 without TLS.
type Config struct {
	// BindAddr is the TCP address to listen on (default ":9003"; tests use "127.0.0.1:0").
	BindAddr string
	// AdvertiseAddr is the host:port other nodes dial to reach this one, and the address raft
	// learns through RaftLayer().Addr(). Default: the listener's address.
	AdvertiseAddr string

	// TLS, when set, makes the listener speak TLS; set ClientAuth to
	// tls.RequireAndVerifyClientCert for mutual TLS.
	TLS *tls.Config
	// ClientTLS, when set, is used for every outgoing connection. When ServerName is empty it
	// is set to the host part of the dialled address.
	ClientTLS *tls.Config
	// VerifyPeer, when set, is asked about every connection once its TLS handshake is done
	// (and, inbound, once the preamble is read), before anything else is sent or served; an
	// error refuses the connection: an inbound one is closed without the accept byte, an
	// outbound dial fails with ErrUnreachable wrapping ErrPeerRefused and the error. This is
	// where a caller checks that the certificate names the node it expects at the address
	// (the transport itself knows no node identities). It runs on the connection's own
	// goroutine and must not block for long.
	VerifyPeer func(PeerInfo) error
	// Refused, when set, is told of every connection refused, inbound or outbound: a failed
	// TLS handshake, an unknown preamble, or a VerifyPeer error (err says which). It must not
	// block. nebulaio_transport_refused_total counts the same connections.
	Refused func(PeerInfo, error)

	// MaxFrameSize bounds the payload of one frame (request, reply, stream header) in bytes,
	// for both what we send and what we accept (default 16 MiB; at least 64 KiB, the stream
	// chunk size; at most 1 GiB). Give every node the same value.
	MaxFrameSize int
	// CallTimeout is the deadline applied to Call and the reply wait of CallStream when the
	// context has none (default 10s).
	CallTimeout time.Duration
	// DialTimeout bounds one TCP dial (default 5s).
	DialTimeout time.Duration
	// HandshakeTimeout bounds the TLS handshake plus the connection preamble, both sides
	// (default 10s).
	HandshakeTimeout time.Duration
	// WriteTimeout: a write to a connection that makes no progress for this long kills the
	// connection and fails its calls (default 10s). This is what keeps a stalled peer from
	// holding memory and goroutines forever.
	WriteTimeout time.Duration
	// StreamIdleTimeout bounds each read and write of a streaming transfer (default 30s). A
	// transfer as a whole is bounded only by its context.
	StreamIdleTimeout time.Duration
	// PoolSize is the number of long-lived RPC connections kept per remote address (default 2).
	PoolSize int
	// MaxIdleStreams bounds the stream connections kept idle per remote address for the next
	// transfer (default 64, at most 4096). A transfer finding none idle dials a new one; one
	// that ends with the list full closes its connection. An idle connection is closed after
	// half of StreamIdleTimeout unused.
	MaxIdleStreams int

	// Metrics receives measurements; nil records nothing.
	Metrics Metrics
	// Faults injects partitions, delays and drops (tests only; nil in production).
	Faults *Faults
}

func (c *Config) setDefaults() {
	if c.BindAddr == "" {
		c.BindAddr = DefaultBindAddr
	}
	if c.MaxFrameSize == 0 {
		c.MaxFrameSize = DefaultMaxFrameSize
	}
	if c.CallTimeout == 0 {
		c.CallTimeout = DefaultCallTimeout
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.StreamIdleTimeout == 0 {
		c.StreamIdleTimeout = DefaultStreamIdleTimeout
	}
	if c.PoolSize == 0 {
		c.PoolSize = DefaultPoolSize
	}
	if c.MaxIdleStreams == 0 {
		c.MaxIdleStreams = DefaultMaxIdleStreams
	}
	if c.Metrics == nil {
		c.Metrics = metrics.Nop{}
	}
}

// Validate reports the first invalid field, naming it. Zero values are valid (they take the
// defaults).
func (c *Config) Validate() error {
	switch {
	case c.MaxFrameSize < 0 || (c.MaxFrameSize > 0 && c.MaxFrameSize < streamChunkSize) || c.MaxFrameSize > maxFrameLimit:
		return fmt.Errorf("transport: config: MaxFrameSize %d out of range [%d, %d]", c.MaxFrameSize, streamChunkSize, maxFrameLimit)
	case c.CallTimeout < 0:
		return fmt.Errorf("transport: config: CallTimeout %v is negative", c.CallTimeout)
	case c.DialTimeout < 0:
		return fmt.Errorf("transport: config: DialTimeout %v is negative", c.DialTimeout)
	case c.HandshakeTimeout < 0:
		return fmt.Errorf("transport: config: HandshakeTimeout %v is negative", c.HandshakeTimeout)
	case c.WriteTimeout < 0:
		return fmt.Errorf("transport: config: WriteTimeout %v is negative", c.WriteTimeout)
	case c.StreamIdleTimeout < 0:
		return fmt.Errorf("transport: config: StreamIdleTimeout %v is negative", c.StreamIdleTimeout)
	case c.PoolSize < 0 || c.PoolSize > 64:
		return fmt.Errorf("transport: config: PoolSize %d out of range [1, 64]", c.PoolSize)
	case c.MaxIdleStreams < 0 || c.MaxIdleStreams > 4096:
		return fmt.Errorf("transport: config: MaxIdleStreams %d out of range [1, 4096]", c.MaxIdleStreams)
	case c.TLS != nil && c.ClientTLS == nil:
		return fmt.Errorf("transport: config: TLS is set but ClientTLS is not: this node could not dial its TLS peers")
	case len(c.AdvertiseAddr) > maxAddrLen:
		return fmt.Errorf("transport: config: AdvertiseAddr longer than %d bytes", maxAddrLen)
	}
	return nil
}
