// Package httpapi serves NebulaIO over HTTP: the admin listener (:9001: health probes, /metrics
// and the admin API), and — as later changes land — the S3 API (:9000) and the console (:9002).
//
// It is the only package that knows Prometheus: library packages report through a three-method
// seam (Counter, Gauge, Observe; see docs/CONVENTIONS.md) that PromSink implements.
//
// Servers follow standard-library style: handlers are http.Handler, ReadHeaderTimeout is set,
// there is no global WriteTimeout (S3 bodies can be large), and Shutdown(ctx) drains.
package httpapi
