package e2e

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Attachments (issue S9): an agent uploads a file, Conversa keeps it under
// [media] dir and serves it at an unguessable URL, and the channels send
// it by that URL; and typing and seen reach the contact where Meta shows
// them.

// uploaded is POST /api/v1/uploads's answer.
type uploaded struct {
	URL      string `json:"url"`
	MIMEType string `json:"mime_type"`
	Name     string `json:"name"`
	Size     int64  `json:"size"`
}

// apiErrorBody is the API's error answer.
type apiErrorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field"`
	} `json:"error"`
}

// samplePNG is a real picture (Chromium must be able to draw it).
func samplePNG(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := 0; x < w; x++ {
		for y := 0; y < h; y++ {
			img.Set(x, y, color.RGBA{uint8(40 + x*3), uint8(90 + y*2), 200, 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

var samplePDF = []byte("%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")

// multipartBody is a form with one file part (field, name, declared type).
func multipartBody(t testing.TB, field, name, mimeType string, content []byte) (string, []byte) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename=%q`, field, name))
	if mimeType != "" {
		h.Set("Content-Type", mimeType)
	}
	part, err := w.CreatePart(h)
	if err != nil {
		t.Fatal(err)
	}
	part.Write(content)
	w.Close()
	return w.FormDataContentType(), b.Bytes()
}

// upload posts a file as the console does and decodes the answer.
func (s *server) upload(token, name, mimeType string, content []byte) (int, uploaded, apiErrorBody) {
	s.t.Helper()
	ct, body := multipartBody(s.t, "file", name, mimeType, content)
	status, b := s.do("POST", "/api/v1/uploads", body, map[string]string{"Content-Type": ct, "Authorization": "Bearer " + token})
	var up uploaded
	var ae apiErrorBody
	if status == 201 {
		if err := json.Unmarshal(b, &up); err != nil {
			s.t.Fatalf("upload answer %q: %v", b, err)
		}
	} else if err := json.Unmarshal(b, &ae); err != nil {
		s.t.Fatalf("upload %s: answer %d %q is not a JSON error", name, status, b)
	}
	return status, up, ae
}

// fetch GETs a URL without signing in, as a provider does.
func fetch(t testing.TB, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// senderActions are the sender_action values the fake Graph API received
// for a user, in order.
func (f *fakeGraph) senderActions(igsid string) []string {
	var out []string
	for _, r := range f.sends() {
		if a, ok := r.Body["sender_action"].(string); ok && r.Recipient() == igsid {
			out = append(out, a)
		}
	}
	return out
}

func countOf(list []string, s string) int {
	n := 0
	for _, v := range list {
		if v == s {
			n++
		}
	}
	return n
}

// attachment is the Send API body's message.attachment (type and url).
func (r graphRequest) attachment() (typ, url string) {
	msg, _ := r.Body["message"].(map[string]any)
	a, _ := msg["attachment"].(map[string]any)
	p, _ := a["payload"].(map[string]any)
	typ, _ = a["type"].(string)
	url, _ = p["url"].(string)
	return typ, url
}

// anaWithAChat starts a Meta install where agent ana, available, has been
// given a conversation with user; it returns her token and its id.
func anaWithAChat(t *testing.T, srv *server, user string) (string, int64) {
	t.Helper()
	srv.agentsAdd("ana", "agent", "ana-password")
	ana := srv.signIn("ana", "ana-password")
	if status := srv.api("PUT", "/api/v1/me/status", ana, map[string]string{"status": "available"}, nil); status != 200 {
		t.Fatalf("ana available = %d", status)
	}
	mustPostMeta(t, srv, metaText(user, "m-"+user, handoffText, time.Now()))
	eventually(t, "the chat assigned to ana", func() bool { return len(srv.conversations(ana, "?state=assigned")) == 1 })
	return ana, srv.conversations(ana, "?state=assigned")[0].ID
}

const mediaConfig = "[media]\ndir = \"{{DIR}}/shared-media\"\nmax_upload_mb = 1\n"

func TestUploadIsServedAtItsURL(t *testing.T) {
	graph := newFakeGraph(t)
	srv := newServer(t, mediaConfig+metaConfig(graph.URL, ""))
	srv.agentsAdd("ana", "agent", "ana-password")
	ana := srv.signIn("ana", "ana-password")

	// Bigger than [server] body_limit_kb (64 here): uploads have their own limit.
	pic := samplePNG(t, 300, 200)
	pic = append(pic, bytes.Repeat([]byte("x"), 100<<10)...)
	status, up, ae := srv.upload(ana, "../../Jaqueta azul.PNG", "image/png", pic)
	if status != 201 {
		t.Fatalf("upload = %d %+v, want 201", status, ae)
	}
	if up.MIMEType != "image/png" || up.Name != "Jaqueta azul.png" || up.Size != int64(len(pic)) {
		t.Errorf("upload = %+v, want image/png, the name made safe, %d bytes", up, len(pic))
	}
	prefix := srv.URL + "/media/"
	token, name, _ := strings.Cut(strings.TrimPrefix(up.URL, prefix), "/")
	if !strings.HasPrefix(up.URL, prefix) || len(token) < 32 || name != "Jaqueta%20azul.png" {
		t.Fatalf("url = %q, want %s{token of 128 bits}/Jaqueta%%20azul.png", up.URL, prefix)
	}

	resp, body := fetch(t, up.URL)
	if resp.StatusCode != 200 || !bytes.Equal(body, pic) {
		t.Fatalf("GET the url without signing in = %d, %d bytes; want 200 and the uploaded bytes", resp.StatusCode, len(body))
	}
	for header, want := range map[string]string{
		"Content-Type": "image/png", "X-Content-Type-Options": "nosniff",
		"Cache-Control": "public, max-age=604800, immutable",
	} {
		if got := resp.Header.Get(header); got != want {
			t.Errorf("%s = %q, want %q", header, got, want)
		}
	}
	if cd := resp.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "inline") {
		t.Errorf("an image's Content-Disposition = %q, want inline", cd)
	}

	// A PDF is served as a download, under its own name.
	status, doc, ae := srv.upload(ana, "Catálogo 2026.pdf", "application/pdf", samplePDF)
	if status != 201 || doc.MIMEType != "application/pdf" || doc.Name != "Catálogo 2026.pdf" {
		t.Fatalf("PDF upload = %d %+v %+v", status, doc, ae)
	}
	resp, body = fetch(t, doc.URL)
	if resp.StatusCode != 200 || !bytes.Equal(body, samplePDF) || resp.Header.Get("Content-Type") != "application/pdf" ||
		!strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment") ||
		!strings.Contains(resp.Header.Get("Content-Disposition"), "Cat%C3%A1logo%202026.pdf") {
		t.Errorf("GET the PDF = %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Content-Disposition"))
	}

	// Kept where [media] dir says, readable by the server alone.
	p := filepath.Join(srv.dir, "shared-media", token[:2], token, "data")
	if info, err := os.Stat(p); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("the kept file %s: %v %v, want mode 0600", p, info, err)
	}

	// Anything else under /media is not found, never the console page or a listing.
	for _, path := range []string{
		"/media/" + token + "/other.png",
		"/media/" + token + "/",
		"/media/" + token,
		"/media/" + token[:2],
		"/media/",
		"/media",
		"/media/" + token + "/meta.json",
		"/media/" + token + "/data",
		"/media/" + strings.Repeat("0", 32) + "/Jaqueta%20azul.png",
		"/media/..%2f..%2fconversa.toml/x",
		"/media/" + token + "/..%2F..%2F..%2Fconversa.toml",
	} {
		resp, body := fetch(t, srv.URL+path)
		if resp.StatusCode != 404 || bytes.Contains(body, pic[:64]) || bytes.Contains(body, []byte("<html")) {
			t.Errorf("GET %s = %d %q, want 404", path, resp.StatusCode, body)
		}
	}
}

func TestUploadRefusals(t *testing.T) {
	graph := newFakeGraph(t)
	srv := newServer(t, mediaConfig+metaConfig(graph.URL, ""))
	srv.agentsAdd("ana", "agent", "ana-password")
	ana := srv.signIn("ana", "ana-password")

	// 413 over max_upload_mb (1 here), as a JSON error the client reads
	// whole: the body is read to its end first, so a browser mid-upload
	// gets the answer and not a reset connection.
	big := append(samplePNG(t, 10, 10), make([]byte, 3<<20)...)
	status, _, ae := srv.upload(ana, "big.png", "image/png", big)
	if status != 413 || ae.Error.Code != "too_large" || !strings.Contains(ae.Error.Message, "1 MB") {
		t.Errorf("upload over the limit = %d %+v, want 413 too_large naming 1 MB", status, ae)
	}

	// A client that writes the whole body before it reads (as a browser
	// mid-upload does) still reads the 413: no reset connection.
	if status, b := uploadWholeThenRead(t, srv, ana, big); status != 413 || !strings.Contains(string(b), `"too_large"`) {
		t.Errorf("upload over the limit, written whole before reading = %d %s, want 413 too_large", status, b)
	}

	// 415 for what the channels cannot send, whatever it calls itself.
	for _, c := range []struct {
		name, mime string
		content    []byte
	}{
		{"page.html", "text/html", []byte("<!DOCTYPE html><html><script>alert(1)</script></html>")},
		{"photo.png", "image/png", []byte("<html><body>not a picture</body></html>")},
		{"logo.svg", "image/svg+xml", []byte(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>`)},
		{"setup.exe", "application/octet-stream", []byte("MZ\x90\x00\x03\x00\x00\x00\x04\x00")},
		{"archive.zip", "application/zip", []byte("PK\x03\x04\x14\x00\x00\x00\x08\x00")},
	} {
		status, _, ae := srv.upload(ana, c.name, c.mime, c.content)
		if status != 415 || ae.Error.Code != "unsupported_type" || ae.Error.Field != "file" {
			t.Errorf("upload %s = %d %+v, want 415 unsupported_type", c.name, status, ae)
		}
	}

	// 400 without a file.
	ct, body := multipartBody(t, "attachment", "a.png", "image/png", samplePNG(t, 2, 2))
	if status, b := srv.do("POST", "/api/v1/uploads", body, map[string]string{"Content-Type": ct, "Authorization": "Bearer " + ana}); status != 400 ||
		!strings.Contains(string(b), `"field":"file"`) {
		t.Errorf("upload without the file field = %d %s, want 400 naming file", status, b)
	}
	if status, b := srv.do("POST", "/api/v1/uploads", []byte(`{}`), map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + ana}); status != 400 {
		t.Errorf("upload of JSON = %d %s, want 400", status, b)
	}
	if status, _, ae := srv.upload(ana, "empty.png", "image/png", nil); status != 400 || ae.Error.Field != "file" {
		t.Errorf("upload of an empty file = %d %+v, want 400", status, ae)
	}

	// 401 without signing in; and without a session the body limit stays
	// [server] body_limit_kb, refused from the headers alone.
	ct, body = multipartBody(t, "file", "a.png", "image/png", samplePNG(t, 2, 2))
	if status, _ := srv.do("POST", "/api/v1/uploads", body, map[string]string{"Content-Type": ct}); status != 401 {
		t.Errorf("upload without signing in = %d, want 401", status)
	}
	if status := announceMultipart(t, srv, "/api/v1/uploads", "", 200<<10); status != 413 {
		t.Errorf("a 200 KB upload without signing in = %d, want 413 (body_limit_kb applies)", status)
	}
	// Far over the limit: refused at once, from Content-Length.
	if status := announceMultipart(t, srv, "/api/v1/uploads", ana, 50<<20); status != 413 {
		t.Errorf("a 50 MB upload = %d, want 413 at once", status)
	}
	// The upload limit is the upload route's alone: webhooks and the rest
	// of the API keep body_limit_kb.
	if status := announceMultipart(t, srv, "/webhooks/ig-meta", "", 200<<10); status != 413 {
		t.Errorf("a 200 KB webhook = %d, want 413", status)
	}
	if status := announceMultipart(t, srv, "/api/v1/conversations/1/messages", ana, 200<<10); status != 413 {
		t.Errorf("a signed-in 200 KB message = %d, want 413", status)
	}
	if n := countFiles(t, filepath.Join(srv.dir, "shared-media")); n != 0 {
		t.Errorf("refused uploads left %d files in the media directory", n)
	}
}

// announceMultipart starts a multipart POST of n bytes and reads the
// answer without sending the body (see announceBody).
func announceMultipart(t *testing.T, srv *server, path, token string, n int) int {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	auth := ""
	if token != "" {
		auth = "Authorization: Bearer " + token + "\r\n"
	}
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: conversa\r\n%sContent-Type: multipart/form-data; boundary=x\r\nContent-Length: %d\r\n\r\n", path, auth, n)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the answer to an announced %d-byte POST %s: %v", n, path, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// uploadWholeThenRead writes a whole multipart upload on a raw connection,
// and only then reads the answer.
func uploadWholeThenRead(t *testing.T, srv *server, token string, content []byte) (int, []byte) {
	t.Helper()
	ct, body := multipartBody(t, "file", "big.png", "image/png", content)
	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(conn, "POST /api/v1/uploads HTTP/1.1\r\nHost: conversa\r\nAuthorization: Bearer %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n",
		token, ct, len(body))
	if _, err := conn.Write(body); err != nil {
		t.Fatalf("writing the upload: %v (the server closed the connection before reading it)", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func countFiles(t *testing.T, dir string) int {
	n := 0
	filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return nil
	})
	return n
}

// An agent sends an uploaded image: Meta receives an image attachment
// whose URL serves the same bytes.
func TestAgentSendsAnUploadedImageThroughMeta(t *testing.T) {
	graph := newFakeGraph(t)
	srv := newServer(t, metaConfig(graph.URL, ""))
	ana, id := anaWithAChat(t, srv, "5001")
	pic := samplePNG(t, 64, 48)
	status, up, ae := srv.upload(ana, "jaqueta.png", "image/png", pic)
	if status != 201 {
		t.Fatalf("upload = %d %+v", status, ae)
	}
	content := map[string]any{"type": "image", "url": up.URL, "mime_type": up.MIMEType, "name": up.Name}
	if status := srv.api("POST", fmt.Sprintf("/api/v1/conversations/%d/messages", id), ana,
		map[string]any{"contents": []any{content}}, nil); status != 202 {
		t.Fatalf("sending the image = %d, want 202", status)
	}
	var sent graphRequest
	eventually(t, "the image at the Graph API", func() bool {
		for _, r := range graph.sends() {
			if _, u := r.attachment(); u == up.URL {
				sent = r
				return true
			}
		}
		return false
	})
	if typ, _ := sent.attachment(); typ != "image" || sent.Recipient() != "5001" {
		t.Errorf("Send API body = %v, want an image attachment to 5001", sent.Body)
	}
	resp, body := fetch(t, up.URL)
	if resp.StatusCode != 200 || !bytes.Equal(body, pic) || resp.Header.Get("Content-Type") != "image/png" {
		t.Errorf("the attachment's URL serves %d, %d bytes of %q; want the uploaded PNG", resp.StatusCode, len(body), resp.Header.Get("Content-Type"))
	}

	// A PDF goes as Instagram's file attachment.
	_, doc, _ := srv.upload(ana, "tabela.pdf", "application/pdf", samplePDF)
	srv.api("POST", fmt.Sprintf("/api/v1/conversations/%d/messages", id), ana,
		map[string]any{"contents": []any{map[string]any{"type": "file", "url": doc.URL, "mime_type": doc.MIMEType, "name": doc.Name}}}, nil)
	eventually(t, "the PDF at the Graph API", func() bool {
		for _, r := range graph.sends() {
			if typ, u := r.attachment(); u == doc.URL && typ == "file" {
				return true
			}
		}
		return false
	})
}

// Through Zenvia an image goes as a file with its fileUrl, and a PDF (a
// typed file that is not an image) as a text carrying its link (SPEC
// "Messages in and out through Zenvia").
func TestAgentSendsUploadsThroughZenvia(t *testing.T) {
	zenvia := newFakeZenvia(t)
	srv := newServer(t, zenviaConfig(zenvia.URL, "", zenviaCredentials))
	srv.agentsAdd("ana", "agent", "ana-password")
	ana := srv.signIn("ana", "ana-password")
	srv.api("PUT", "/api/v1/me/status", ana, map[string]string{"status": "available"}, nil)
	srv.deliver(zenviaText(t, handoffText))
	eventually(t, "the chat assigned to ana", func() bool { return len(srv.conversations(ana, "?state=assigned")) == 1 })
	id := srv.conversations(ana, "?state=assigned")[0].ID
	before := len(zenvia.accepted())

	_, pic, _ := srv.upload(ana, "jaqueta.png", "image/png", samplePNG(t, 20, 20))
	_, doc, _ := srv.upload(ana, "catalogo.pdf", "application/pdf", samplePDF)
	for _, c := range []map[string]any{
		{"type": "image", "url": pic.URL, "mime_type": pic.MIMEType, "name": pic.Name},
		{"type": "file", "url": doc.URL, "mime_type": doc.MIMEType, "name": doc.Name},
	} {
		if status := srv.api("POST", fmt.Sprintf("/api/v1/conversations/%d/messages", id), ana,
			map[string]any{"contents": []any{c}}, nil); status != 202 {
			t.Fatalf("sending %v = %d, want 202", c, status)
		}
	}
	got := waitSends(t, zenvia, before+2)[before:]
	if cs := got[0].Contents(); len(cs) != 1 || cs[0]["type"] != "file" || cs[0]["fileUrl"] != pic.URL {
		t.Errorf("the image through Zenvia = %v, want one file content with fileUrl %s", cs, pic.URL)
	}
	if cs := got[1].Contents(); len(cs) != 1 || cs[0]["type"] != "text" || got[1].Text() != "catalogo.pdf\n"+doc.URL {
		t.Errorf("the PDF through Zenvia = %v, want a text with its name and link %s", cs, doc.URL)
	}
	for _, r := range got {
		if r.To() == "" || r.Token != zenviaToken {
			t.Errorf("Zenvia request to %q with token %q", r.To(), r.Token)
		}
	}
	// The link the contact gets serves the PDF.
	if resp, body := fetch(t, doc.URL); resp.StatusCode != 200 || !bytes.Equal(body, samplePDF) {
		t.Errorf("GET the PDF's link = %d, %d bytes", resp.StatusCode, len(body))
	}
}

// While the agent types the contact sees "typing" (sender_action
// typing_on), at most once every few seconds; opening the chat marks the
// contact's messages seen, once per new message; neither ever fails the
// agent's request.
func TestTypingAndSeenReachMeta(t *testing.T) {
	graph := newFakeGraph(t)
	srv := newServer(t, metaConfig(graph.URL, ""))
	ana, id := anaWithAChat(t, srv, "5002")
	typing := fmt.Sprintf("/api/v1/conversations/%d/typing", id)
	read := fmt.Sprintf("/api/v1/conversations/%d/read", id)

	for i := 0; i < 3; i++ {
		if status := srv.api("POST", typing, ana, nil, nil); status != 204 {
			t.Fatalf("POST typing = %d, want 204", status)
		}
	}
	eventually(t, "typing_on at the Graph API", func() bool { return countOf(graph.senderActions("5002"), "typing_on") > 0 })
	for _, r := range graph.sends() {
		if r.Body["sender_action"] == "typing_on" {
			if len(r.Body) != 2 || r.Auth != "Bearer token-abc" {
				t.Errorf("typing_on request = %v (auth %q), want only recipient and sender_action, authenticated as sends", r.Body, r.Auth)
			}
		}
	}

	if status := srv.api("POST", read, ana, nil, nil); status != 204 {
		t.Fatalf("POST read = %d, want 204", status)
	}
	eventually(t, "mark_seen at the Graph API", func() bool { return countOf(graph.senderActions("5002"), "mark_seen") == 1 })
	srv.api("POST", read, ana, nil, nil) // nothing new to mark
	time.Sleep(time.Second)              // what would have gone out has
	if got := graph.senderActions("5002"); countOf(got, "typing_on") != 1 || countOf(got, "mark_seen") != 1 {
		t.Errorf("sender actions = %v, want one typing_on for three quick POSTs and one mark_seen for two reads", got)
	}
	// A new message from the contact: reading it marks it seen again.
	mustPostMeta(t, srv, metaText("5002", "m-5002-2", "are you there?", time.Now()))
	eventually(t, "the new message stored", func() bool {
		return srv.count(`SELECT count(*) FROM messages WHERE conversation_id = ? AND direction = 'in'`, id) == 2
	})
	srv.api("POST", read, ana, nil, nil)
	eventually(t, "a second mark_seen", func() bool { return countOf(graph.senderActions("5002"), "mark_seen") == 2 })

	// An admin reading the chat is not the contact's agent: nothing is marked.
	admin := srv.admin()
	mustPostMeta(t, srv, metaText("5002", "m-5002-3", "hello?", time.Now()))
	eventually(t, "the third message stored", func() bool {
		return srv.count(`SELECT count(*) FROM messages WHERE conversation_id = ? AND direction = 'in'`, id) == 3
	})
	srv.api("POST", read, admin, nil, nil)

	// Meta down: the agent's requests still succeed.
	graph.setSendError(`{"error":{"message":"An unexpected error has occurred.","type":"OAuthException","code":2,"is_transient":true}}`)
	time.Sleep(5 * time.Second) // the next typing is due
	if status := srv.api("POST", typing, ana, nil, nil); status != 204 {
		t.Errorf("POST typing while Meta fails = %d, want 204", status)
	}
	time.Sleep(time.Second)
	if n := countOf(graph.senderActions("5002"), "mark_seen"); n != 2 {
		t.Errorf("mark_seen sent %d times, want 2 (the admin's read marks nothing)", n)
	}
	if n := countOf(graph.senderActions("5002"), "typing_on"); n != 2 {
		t.Errorf("typing_on attempted %d times, want 2 (the second after 5 s)", n)
	}

	// Only the conversation's agent (or an admin): others get 404 like the
	// other conversation routes; an ended chat 409.
	srv.agentsAdd("bob", "agent", "bob-password")
	bob := srv.signIn("bob", "bob-password")
	if status := srv.api("POST", typing, bob, nil, nil); status != 404 {
		t.Errorf("bob typing in ana's chat = %d, want 404", status)
	}
	if status := srv.api("POST", typing, "", nil, nil); status != 401 {
		t.Errorf("typing without signing in = %d, want 401", status)
	}
	if status := srv.api("POST", typing, admin, nil, nil); status != 204 {
		t.Errorf("an admin typing = %d, want 204", status)
	}
	srv.api("POST", fmt.Sprintf("/api/v1/conversations/%d/end", id), ana, nil, nil)
	if status := srv.api("POST", typing, admin, nil, nil); status != 409 {
		t.Errorf("typing in an ended chat = %d, want 409", status)
	}
}

// In the console: an agent attaches an image through the paperclip's file
// input; Meta receives an image attachment whose URL serves the same
// bytes, and the chat shows it. A dropped file and a pasted image go the
// same way; a PDF shows as a link with its name; the server's 413 and 415
// are shown as they are; typing in the reply box reaches Meta as
// typing_on, and opening the chat as mark_seen.
func TestConsoleAgentAttachesAnImage(t *testing.T) {
	_, graph, ctx, _, _ := anaChatOnScreenWith(t, mediaConfig)
	eventually(t, "mark_seen at the Graph API once the chat is open", func() bool {
		return countOf(graph.senderActions(customerA), "mark_seen") == 1
	})

	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// Over [server] body_limit_kb (64 KB): the console's session gets the
	// upload limit too.
	pic := append(samplePNG(t, 120, 80), make([]byte, 100<<10)...)
	imageAt := func(what string, want []byte) string {
		t.Helper()
		var url string
		eventually(t, what+" at the Graph API as an image attachment", func() bool {
			for _, r := range graph.sends() {
				if typ, u := r.attachment(); typ == "image" && u != "" && r.Recipient() == customerA {
					if _, body := fetch(t, u); bytes.Equal(body, want) {
						url = u
						return true
					}
				}
			}
			return false
		})
		return url
	}

	act(t, ctx, "attaching the photo with the paperclip's file input",
		chromedp.SetUploadFiles(chromedp.CSS("#reply-file"), []string{write("jaqueta azul.png", pic)}))
	url := imageAt("the attached photo", pic)
	if resp, _ := fetch(t, url); resp.Header.Get("Content-Type") != "image/png" {
		t.Errorf("the image's URL serves %q, want image/png", resp.Header.Get("Content-Type"))
	}
	waitFor(t, ctx, "the photo shown in the chat", fmt.Sprintf(
		`[...document.querySelectorAll('.thread .by-agent .media img')].some(i => i.src === %s && i.complete && i.naturalWidth === 120)`, jsString(url)))
	waitFor(t, ctx, "the upload's progress gone", `document.querySelector('.attach-status').hidden`)

	// Dropped on the chat, and pasted into the reply box.
	dropped, pasted := samplePNG(t, 30, 30), samplePNG(t, 31, 31)
	evalJS[bool](t, ctx, `(() => {
		const file = (name, b64) => new File([Uint8Array.from(atob(b64), c => c.charCodeAt(0))], name, { type: 'image/png' });
		const drop = new DataTransfer();
		drop.items.add(file('dropped.png', `+jsString(b64(dropped))+`));
		const zone = document.querySelector('.thread-scroll');
		zone.dispatchEvent(new DragEvent('dragenter', { dataTransfer: drop, bubbles: true, cancelable: true }));
		zone.dispatchEvent(new DragEvent('drop', { dataTransfer: drop, bubbles: true, cancelable: true }));
		const paste = new DataTransfer();
		paste.items.add(file('image.png', `+jsString(b64(pasted))+`));
		document.querySelector('#reply-text').dispatchEvent(new ClipboardEvent('paste', { clipboardData: paste, bubbles: true, cancelable: true }));
		return true;
	})()`)
	imageAt("the dropped image", dropped)
	imageAt("the pasted image", pasted)

	// A PDF: Instagram's file attachment, and a link with its name in the chat.
	act(t, ctx, "attaching a PDF", chromedp.SetUploadFiles(chromedp.CSS("#reply-file"), []string{write("tabela de medidas.pdf", samplePDF)}))
	waitFor(t, ctx, "the PDF as a link with its name",
		`[...document.querySelectorAll('.thread .by-agent .file a')].some(a => a.textContent === 'tabela de medidas.pdf' && a.href.includes('/media/'))`)

	// Refusals, in the server's words.
	act(t, ctx, "attaching a file over the limit",
		chromedp.SetUploadFiles(chromedp.CSS("#reply-file"), []string{write("big.png", append(samplePNG(t, 4, 4), make([]byte, 3<<20)...))}))
	waitFor(t, ctx, "the 413 shown", `(document.querySelector('.attach-status.attach-error')?.textContent || '').includes('big.png is too large to send') &&
		document.querySelector('.attach-status.attach-error').textContent.includes('1 MB at most')`)
	act(t, ctx, "attaching a web page", chromedp.SetUploadFiles(chromedp.CSS("#reply-file"),
		[]string{write("page.html", []byte("<!DOCTYPE html><html><body>hi</body></html>"))}))
	waitFor(t, ctx, "the 415 shown", `(document.querySelector('.attach-status.attach-error')?.textContent || '').includes('page.html cannot be sent') &&
		document.querySelector('.attach-status.attach-error').textContent.includes('text/html')`)
	screenshot(t, ctx, screenshotDir(t), "agent-attachments")

	// Typing in the reply box: the contact sees "typing".
	before := countOf(graph.senderActions(customerA), "typing_on")
	act(t, ctx, "typing a reply", chromedp.SendKeys(chromedp.CSS("#reply-text"), "One moment, I'll check the sizes"))
	eventually(t, "typing_on at the Graph API", func() bool { return countOf(graph.senderActions(customerA), "typing_on") > before })
	if n := countOf(graph.senderActions(customerA), "typing_on"); n > before+2 {
		t.Errorf("typing one sentence sent typing_on %d times, want one or two (it is throttled)", n-before)
	}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
