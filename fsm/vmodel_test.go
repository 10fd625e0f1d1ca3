package fsm

import (
	"maps"
	"slices"
	"strings"
)

// vmodel is the versioning semantics of S3 written down plainly, for the model tests: per
// bucket its versioning state, per key its versions newest first. Every write carries one
// blob (a delete marker none), so "freed" is a list of blob IDs.
type vmodel struct {
	versioning map[string]string
	keys       map[string]map[string][]mver
}

// mver is one version in the model.
type mver struct {
	vid    string
	order  vorder // the model's own bookkeeping of the position, null versions included
	marker bool
	etag   string
	blob   string
}

func newVModel(buckets ...string) *vmodel {
	m := &vmodel{versioning: map[string]string{}, keys: map[string]map[string][]mver{}}
	for _, b := range buckets {
		m.keys[b] = map[string][]mver{}
	}
	return m
}

// orderFor is the position a new version of key gets for the candidate: after the newest.
func (m *vmodel) orderFor(bucket, key string, cand vorder) vorder {
	vs := m.keys[bucket][key]
	if len(vs) > 0 && !vs[0].order.less(cand) {
		cand.time = vs[0].order.time + 1
	}
	return cand
}

// write adds a version (or marker) as the bucket's state says and returns it with the blobs
// freed.
func (m *vmodel) write(bucket, key string, cand vorder, v mver) (mver, []string) {
	vs := m.keys[bucket][key]
	var freed []string
	switch m.versioning[bucket] {
	case "":
		v.vid, v.order = NullVersionID, vorder{}
		for _, old := range vs {
			freed = append(freed, old.blob)
		}
		vs = nil
	case VersioningEnabled:
		v.order = m.orderFor(bucket, key, cand)
		v.vid = v.order.id()
	case VersioningSuspended:
		v.order = m.orderFor(bucket, key, cand)
		v.vid = NullVersionID
		if i := slices.IndexFunc(vs, func(x mver) bool { return x.vid == NullVersionID }); i >= 0 {
			if !vs[i].marker {
				freed = append(freed, vs[i].blob)
			}
			vs = slices.Delete(slices.Clone(vs), i, i+1)
		}
	}
	m.keys[bucket][key] = append([]mver{v}, vs...)
	return v, freed
}

// deleteCurrent is DeleteObject without a version: ok=false for a missing key of an
// unversioned bucket.
func (m *vmodel) deleteCurrent(bucket, key string, cand vorder, etagless mver) (mver, []string, bool) {
	vs := m.keys[bucket][key]
	if m.versioning[bucket] == "" {
		if len(vs) == 0 {
			return mver{}, nil, false
		}
		delete(m.keys[bucket], key)
		return vs[0], []string{vs[0].blob}, true
	}
	etagless.marker, etagless.blob, etagless.etag = true, "", ""
	v, freed := m.write(bucket, key, cand, etagless)
	return v, freed, true
}

// deleteVersion removes version vid; ok=false when there is none.
func (m *vmodel) deleteVersion(bucket, key, vid string) (mver, []string, bool) {
	vs := m.keys[bucket][key]
	i := slices.IndexFunc(vs, func(x mver) bool { return x.vid == vid })
	if i < 0 {
		return mver{}, nil, false
	}
	v := vs[i]
	vs = slices.Delete(slices.Clone(vs), i, i+1)
	if len(vs) == 0 {
		delete(m.keys[bucket], key)
	} else {
		m.keys[bucket][key] = vs
	}
	var freed []string
	if !v.marker {
		freed = []string{v.blob}
	}
	return v, freed, true
}

// deleteEntry is one entry of a DeleteObjects: of version vid, or of the current version
// (making a marker at cand) when vid is "".
func (m *vmodel) deleteEntry(bucket, key, vid string, cand vorder) (mver, []string, bool) {
	if vid != "" {
		return m.deleteVersion(bucket, key, vid)
	}
	return m.deleteCurrent(bucket, key, cand, mver{})
}

func (m *vmodel) current(bucket, key string) (mver, bool) {
	vs := m.keys[bucket][key]
	if len(vs) == 0 {
		return mver{}, false
	}
	return vs[0], true
}

func (m *vmodel) version(bucket, key, vid string) (mver, bool) {
	for _, v := range m.keys[bucket][key] {
		if v.vid == vid {
			return v, true
		}
	}
	return mver{}, false
}

// visible returns the keys ListObjects shows, sorted: those whose current version is no marker.
func (m *vmodel) visible(bucket string) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(m.keys[bucket])) {
		if !m.keys[bucket][k][0].marker {
			out = append(out, k)
		}
	}
	return out
}

// heads counts the keys that have any version (Counts' objects).
func (m *vmodel) heads() int {
	n := 0
	for _, ks := range m.keys {
		n += len(ks)
	}
	return n
}

// ventry is one entry of a ListObjectVersions in the model: a version, or a common prefix
// (prefix set).
type ventry struct {
	key, vid, prefix string
	latest, marker   bool
	etag             string
}

// listVersions is ListObjectVersions over the model, every entry with no paging: keys in
// order, each key's versions newest first, keys with Delimiter after Prefix rolled up.
func (m *vmodel) listVersions(bucket, prefix, delim string) []ventry {
	var out []ventry
	for _, k := range slices.Sorted(maps.Keys(m.keys[bucket])) {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		if delim != "" {
			if i := strings.Index(k[len(prefix):], delim); i >= 0 {
				p := k[:len(prefix)+i+len(delim)]
				if len(out) == 0 || out[len(out)-1].prefix != p {
					out = append(out, ventry{prefix: p})
				}
				continue
			}
		}
		for i, v := range m.keys[bucket][k] {
			out = append(out, ventry{key: k, vid: v.vid, latest: i == 0, marker: v.marker, etag: v.etag})
		}
	}
	return out
}

// entriesOf turns a page of the FSM's listing into model entries, in listing order.
func entriesOf(res VersionListResult) []ventry {
	var out []ventry
	vi, pi := 0, 0
	for vi < len(res.Versions) || pi < len(res.CommonPrefixes) {
		if pi == len(res.CommonPrefixes) || vi < len(res.Versions) && res.Versions[vi].Key < res.CommonPrefixes[pi] {
			v := res.Versions[vi]
			out = append(out, ventry{key: v.Key, vid: v.VersionID, latest: v.IsLatest, marker: v.DeleteMarker, etag: v.ETag})
			vi++
		} else {
			out = append(out, ventry{prefix: res.CommonPrefixes[pi]})
			pi++
		}
	}
	return out
}

// walkVersions lists every version of bucket through the FSM in pages of size page, checking
// the paging fields, and returns the entries.
func walkVersions(t tb, f *FSM, bucket, prefix, delim string, page int) []ventry {
	t.Helper()
	p := VersionListParams{Prefix: prefix, Delimiter: delim, MaxKeys: page}
	var all []ventry
	for pages := 0; ; pages++ {
		res, err := f.ListObjectVersions(bucket, p)
		if err != nil {
			t.Fatalf("ListObjectVersions %+v: %v", p, err)
		}
		got := entriesOf(res)
		if len(got) > page || res.IsTruncated && len(got) != page {
			t.Fatalf("page %+v: %d entries, truncated %v", p, len(got), res.IsTruncated)
		}
		all = append(all, got...)
		if !res.IsTruncated {
			return all
		}
		last := got[len(got)-1]
		wantKM, wantVM := last.key, last.vid
		if last.prefix != "" {
			wantKM, wantVM = last.prefix, ""
		}
		if res.NextKeyMarker != wantKM || res.NextVersionIDMarker != wantVM {
			t.Fatalf("next markers %q %q, want %q %q", res.NextKeyMarker, res.NextVersionIDMarker, wantKM, wantVM)
		}
		p.KeyMarker, p.VersionIDMarker = res.NextKeyMarker, res.NextVersionIDMarker
		if pages > 100000 {
			t.Fatal("the listing does not end")
		}
	}
}
