package fsm

import (
	"encoding/json"
	"fmt"
)

// ResultCodec encodes the *Result of an applied command so that a follower that forwarded a
// proposal to the leader gets the same value back (engine.ResultCodec). JSON keeps it simple:
// forwarded results are small and their cost is dwarfed by the network round trip.
type ResultCodec struct{}

// EncodeResult encodes a *Result (or nil, for non-command entries).
func (ResultCodec) EncodeResult(v any) ([]byte, error) {
	switch r := v.(type) {
	case nil:
		return []byte("null"), nil
	case *Result:
		return json.Marshal(r)
	}
	return nil, fmt.Errorf("fsm: cannot encode a result of type %T", v)
}

// DecodeResult decodes what EncodeResult produced; "null" yields a nil any.
func (ResultCodec) DecodeResult(b []byte) (any, error) {
	if string(b) == "null" {
		return nil, nil
	}
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("fsm: decode result: %w", err)
	}
	return &r, nil
}
