package fsm

// A bucket's CORS configuration: stored as given (a record under prefixCors); the S3 layer
// validates the rules and answers preflight requests from them.

// MaxCORSRules is S3's limit of rules in one CORS configuration.
const MaxCORSRules = 100

// maxCORSList bounds each list of a CORS rule.
const maxCORSList = maxPairs

// CORSRule is one rule of a bucket's CORS configuration (S3's CORSRule). MaxAgeSeconds is -1
// when the rule sets none.
type CORSRule struct {
	ID             string
	AllowedOrigins []string
	AllowedMethods []string
	AllowedHeaders []string
	ExposeHeaders  []string
	MaxAgeSeconds  int64
}

// PutBucketCors replaces a bucket's CORS configuration; no Rules removes it
// (DeleteBucketCors). Rejections: NoSuchBucket. (More than MaxCORSRules do not encode.)
type PutBucketCors struct {
	Bucket string
	Rules  []CORSRule
}

// Rule encoding (the event and the CORS record): string id, list origins, list methods, list
// allowed headers, list expose headers, i64 max age (-1: none).
func encodeCORSRules(e *encoder, rules []CORSRule) {
	e.count("cors rules", len(rules), MaxCORSRules)
	for _, r := range rules {
		e.str("rule id", r.ID)
		e.strs("allowed origins", r.AllowedOrigins, maxCORSList)
		e.strs("allowed methods", r.AllowedMethods, maxCORSList)
		e.strs("allowed headers", r.AllowedHeaders, maxCORSList)
		e.strs("expose headers", r.ExposeHeaders, maxCORSList)
		if r.MaxAgeSeconds < -1 {
			e.fail("cors rule max age %d", r.MaxAgeSeconds)
		}
		e.i64(r.MaxAgeSeconds)
	}
}

func decodeCORSRules(d *decoder) []CORSRule {
	n := d.count("cors rules", MaxCORSRules, 13)
	if n == 0 {
		return nil
	}
	out := make([]CORSRule, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		r := CORSRule{ID: d.str("rule id"), AllowedOrigins: d.strs("allowed origins", maxCORSList),
			AllowedMethods: d.strs("allowed methods", maxCORSList), AllowedHeaders: d.strs("allowed headers", maxCORSList),
			ExposeHeaders: d.strs("expose headers", maxCORSList), MaxAgeSeconds: d.i64("max age")}
		if d.err == nil && r.MaxAgeSeconds < -1 {
			d.fail("cors rule max age %d", r.MaxAgeSeconds)
		}
		out = append(out, r)
	}
	return out
}

func cloneCORSRules(rules []CORSRule) []CORSRule {
	out := make([]CORSRule, len(rules))
	for i, r := range rules {
		r.AllowedOrigins = append([]string(nil), r.AllowedOrigins...)
		r.AllowedMethods = append([]string(nil), r.AllowedMethods...)
		r.AllowedHeaders = append([]string(nil), r.AllowedHeaders...)
		r.ExposeHeaders = append([]string(nil), r.ExposeHeaders...)
		out[i] = r
	}
	return out
}

func (ev *PutBucketCors) encodeBody(e *encoder) {
	e.str("bucket", ev.Bucket)
	encodeCORSRules(e, ev.Rules)
}

func (ev *PutBucketCors) decodeBody(d *decoder) {
	ev.Bucket = d.str("bucket")
	ev.Rules = decodeCORSRules(d)
}

// bucketCors is a bucket's CORS configuration (prefixCors), version 1: string bucket, the rules.
type bucketCors struct {
	Bucket string
	Rules  []CORSRule
}

func corsKey(bucket string) string { return keyOf(prefixCors, bucket) }

func encodeCors(c *bucketCors) ([]byte, error) {
	e := startRecord()
	e.str("bucket", c.Bucket)
	encodeCORSRules(e, c.Rules)
	return e.b, e.err
}

func decodeCors(v []byte) (*bucketCors, error) {
	d := openRecord(v)
	c := &bucketCors{Bucket: d.str("bucket"), Rules: decodeCORSRules(d)}
	if d.err == nil && len(c.Rules) == 0 {
		d.fail("cors record without rules")
	}
	return c, d.finish()
}

func (f *FSM) putBucketCors(ev *PutBucketCors) *Result {
	b, ok := f.res.bucket(ev.Bucket)
	if !ok {
		return reject(CodeNoSuchBucket, "bucket %q does not exist", ev.Bucket)
	}
	var rec any
	if len(ev.Rules) > 0 {
		rec = &bucketCors{Bucket: b.Name, Rules: cloneCORSRules(ev.Rules)}
	}
	return f.setBucketRecord(b, corsKey(b.Name), rec)
}

// BucketCors returns a bucket's CORS rules: NoSuchBucket, or NoSuchCORSConfiguration when it
// has none.
func (f *FSM) BucketCors(bucket string) ([]CORSRule, error) {
	rec, _, err := f.readBucketRecord(bucket, corsKey(bucket),
		newErr(CodeNoSuchCORSConfiguration, "The CORS configuration does not exist (bucket %q)", bucket))
	if err != nil {
		return nil, err
	}
	return cloneCORSRules(rec.(*bucketCors).Rules), nil
}
