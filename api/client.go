package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultServer is where the CLI looks for an agent when neither --server nor
// SHOAL_SERVER says otherwise.
const DefaultServer = "http://127.0.0.1:7948"

// Client talks to one agent's HTTP API. It is safe for concurrent use.
type Client struct {
	Base string
	HTTP *http.Client
}

// NewClient returns a client for the agent at base ("http://host:port").
func NewClient(base string) *Client {
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	return &Client{Base: strings.TrimRight(base, "/"), HTTP: &http.Client{Timeout: 60 * time.Second}}
}

// Do sends a request and decodes a JSON answer into out (if not nil). A
// non-2xx answer becomes a *Status error. It returns the index header.
func (c *Client) Do(ctx context.Context, method, path string, body, out any) (uint64, error) {
	var rd io.Reader
	if body != nil {
		if b, ok := body.([]byte); ok {
			rd = bytes.NewReader(b)
		} else {
			b, err := json.Marshal(body)
			if err != nil {
				return 0, err
			}
			rd = bytes.NewReader(b)
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, rd)
	if err != nil {
		return 0, err
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return c.DoRequest(req, out)
}

// DoRequest sends a prepared request (a streamed upload, say) and decodes
// the answer as Do does.
func (c *Client) DoRequest(req *http.Request, out any) (uint64, error) {
	method, path := req.Method, req.URL.Path
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return 0, NewError(ReasonServiceUnavailable, "cannot reach the shoal agent at %s: %v (is `shoal agent` running? set --server or SHOAL_SERVER)", c.Base, unwrapURLError(err))
	}
	defer resp.Body.Close()
	idx, _ := strconv.ParseUint(resp.Header.Get(IndexHeader), 10, 64)
	if resp.StatusCode/100 != 2 {
		return idx, readStatus(resp)
	}
	if out == nil {
		io.Copy(io.Discard, resp.Body)
		return idx, nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return idx, fmt.Errorf("decode answer from %s %s: %w", method, path, err)
	}
	return idx, nil
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func readStatus(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var s Status
	if json.Unmarshal(b, &s) == nil && s.Message != "" {
		if s.Code == 0 {
			s.Code = resp.StatusCode
		}
		return &s
	}
	st := NewError(ReasonInternal, "%s: %s", resp.Status, strings.TrimSpace(string(b)))
	st.Code = resp.StatusCode
	return st
}

// ObjectPath returns the API path of one object.
func ObjectPath(kind, ns, name string) (string, error) {
	r, ok := ResourceForKind(kind)
	if !ok {
		return "", NewError(ReasonBadRequest, "unknown kind %q (known kinds: %s)", kind, strings.Join(Kinds(), ", "))
	}
	if r.Namespaced && ns == "" {
		ns = "default"
	}
	p := r.Path(ns)
	if name != "" {
		p += "/" + url.PathEscape(name)
	}
	return p, nil
}

// DecodeAny decodes an object whose JSON names its own kind.
func DecodeAny(data []byte) (Object, error) {
	var tm TypeMeta
	if err := json.Unmarshal(data, &tm); err != nil {
		return nil, err
	}
	return DecodeJSON(tm.Kind, data)
}

// Get reads one object.
func (c *Client) Get(ctx context.Context, kind, ns, name string) (Object, error) {
	p, err := ObjectPath(kind, ns, name)
	if err != nil {
		return nil, err
	}
	var raw json.RawMessage
	if _, err := c.Do(ctx, http.MethodGet, p, nil, &raw); err != nil {
		return nil, err
	}
	return DecodeJSON(kind, raw)
}

// List is the body of a list answer.
type List struct {
	TypeMeta `json:",inline"`
	Metadata struct {
		ResourceVersion string `json:"resourceVersion"`
	} `json:"metadata"`
	Items []json.RawMessage `json:"items"`
}

// ListOptions narrow a list or a watch.
type ListOptions struct {
	LabelSelector string // "app=web,tier!=db"
	FieldSelector string // "spec.nodeName=n1"
	Consistent    bool   // read through the leader
}

func (o ListOptions) query() url.Values {
	q := url.Values{}
	if o.LabelSelector != "" {
		q.Set("labelSelector", o.LabelSelector)
	}
	if o.FieldSelector != "" {
		q.Set("fieldSelector", o.FieldSelector)
	}
	if o.Consistent {
		q.Set("consistent", "true")
	}
	return q
}

// List reads every object of a kind in ns ("" = all namespaces) and the
// index the answer reflects.
func (c *Client) List(ctx context.Context, kind, ns string, consistent bool) ([]Object, uint64, error) {
	return c.ListWith(ctx, kind, ns, ListOptions{Consistent: consistent})
}

// ListWith is List with selectors.
func (c *Client) ListWith(ctx context.Context, kind, ns string, opts ListOptions) ([]Object, uint64, error) {
	r, ok := ResourceForKind(kind)
	if !ok {
		return nil, 0, NewError(ReasonBadRequest, "unknown kind %q", kind)
	}
	p := r.Path(ns)
	if q := opts.query(); len(q) > 0 {
		p += "?" + q.Encode()
	}
	var l List
	idx, err := c.Do(ctx, http.MethodGet, p, nil, &l)
	if err != nil {
		return nil, 0, err
	}
	out := make([]Object, 0, len(l.Items))
	for _, it := range l.Items {
		o, err := DecodeJSON(kind, it)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, o)
	}
	return out, idx, nil
}

func (c *Client) write(ctx context.Context, method string, obj Object, withName bool) (Object, error) {
	m := obj.GetObjectMeta()
	name := ""
	if withName {
		name = m.Name
	}
	p, err := ObjectPath(obj.GetTypeMeta().Kind, m.Namespace, name)
	if err != nil {
		return nil, err
	}
	var raw json.RawMessage
	if _, err := c.Do(ctx, method, p, obj, &raw); err != nil {
		return nil, err
	}
	return DecodeJSON(obj.GetTypeMeta().Kind, raw)
}

// Create stores a new object; it fails with AlreadyExists if one has its name.
func (c *Client) Create(ctx context.Context, obj Object) (Object, error) {
	return c.write(ctx, http.MethodPost, obj, false)
}

// Update replaces an existing object. With metadata.resourceVersion set it
// is a compare-and-set.
func (c *Client) Update(ctx context.Context, obj Object) (Object, error) {
	return c.write(ctx, http.MethodPut, obj, true)
}

// Delete removes an object.
func (c *Client) Delete(ctx context.Context, kind, ns, name string) error {
	p, err := ObjectPath(kind, ns, name)
	if err != nil {
		return err
	}
	_, err = c.Do(ctx, http.MethodDelete, p, nil, nil)
	return err
}

// WatchEvent is one line of a watch stream.
type WatchEvent struct {
	Type   string          `json:"type"` // ADDED, MODIFIED, DELETED, ERROR
	Index  uint64          `json:"index,omitempty"`
	Object json.RawMessage `json:"object"`
}

// Watch streams changes to a kind in ns ("" = all) after index from; with
// from = 0 it first sends every current object as ADDED. The channel closes
// when ctx ends or the stream breaks; an ERROR event explains why.
func (c *Client) Watch(ctx context.Context, kind, ns string, from uint64) (<-chan WatchEvent, error) {
	return c.WatchWith(ctx, kind, ns, from, ListOptions{})
}

// WatchWith is Watch with selectors.
func (c *Client) WatchWith(ctx context.Context, kind, ns string, from uint64, opts ListOptions) (<-chan WatchEvent, error) {
	r, ok := ResourceForKind(kind)
	if !ok {
		return nil, NewError(ReasonBadRequest, "unknown kind %q", kind)
	}
	q := opts.query()
	q.Set("watch", "true")
	if from > 0 {
		q.Set("resourceVersion", strconv.FormatUint(from, 10))
	}
	p := r.Path(ns) + "?" + q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Base+p, nil)
	if err != nil {
		return nil, err
	}
	hc := *c.HTTP
	hc.Timeout = 0
	resp, err := hc.Do(req)
	if err != nil {
		return nil, NewError(ReasonServiceUnavailable, "cannot reach the shoal agent at %s: %v", c.Base, unwrapURLError(err))
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		return nil, readStatus(resp)
	}
	ch := make(chan WatchEvent, 64)
	go func() {
		defer close(ch)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), MaxBodyBytes*2)
		for sc.Scan() {
			var ev WatchEvent
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				return
			}
			select {
			case ch <- ev:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch, nil
}

// Status reads the cluster status as the agent sees it.
func (c *Client) Status(ctx context.Context) (*ClusterStatus, error) {
	var s ClusterStatus
	_, err := c.Do(ctx, http.MethodGet, "/v1/status", nil, &s)
	return &s, err
}

// Members lists the cluster's members as the agent sees them.
func (c *Client) Members(ctx context.Context) ([]MemberInfo, error) {
	var m []MemberInfo
	_, err := c.Do(ctx, http.MethodGet, "/v1/members", nil, &m)
	return m, err
}

// Leave asks the agent to leave the cluster gracefully and stop.
func (c *Client) Leave(ctx context.Context) error {
	_, err := c.Do(ctx, http.MethodPost, "/v1/node/leave", nil, nil)
	return err
}
