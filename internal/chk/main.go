package main
import (
 _ "github.com/hashicorp/raft"
 _ "github.com/hashicorp/memberlist"
 _ "github.com/klauspost/compress/zstd"
 _ "github.com/golang/snappy"
 _ "github.com/google/btree"
 _ "github.com/prometheus/client_golang/prometheus"
 _ "github.com/rs/zerolog"
 _ "go.yaml.in/yaml/v3"
 _ "pgregory.net/rapid"
 _ "go.uber.org/goleak"
 _ "github.com/anishathalye/porcupine"
 _ "github.com/aws/aws-sdk-go-v2/service/s3"
 _ "github.com/aws/aws-sdk-go-v2/config"
 _ "github.com/aws/aws-sdk-go-v2/credentials"
)
func main(){}
