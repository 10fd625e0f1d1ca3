// Package fuzz holds go test -fuzz targets.
package fuzz
