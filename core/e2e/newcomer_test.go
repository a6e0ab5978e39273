package e2e

import (
	"bytes"
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
)

// The first ten minutes as a newcomer lives them (issue S10), in one
// browser: `conversa` with no arguments in an empty directory, the setup
// URL it prints, the first admin, the playground's phone talking to the
// demo assistant, the hand-off, and the newcomer answering as an agent
// while the answer arrives on the phone.
func TestNewcomerPath(t *testing.T) {
	srv := newBareServer(t)
	token := srv.setupToken(srv.banner(bannerEnd))
	agent := newBrowser(t)
	shots := screenshotDir(t)

	act(t, agent, "opening the printed setup URL and creating the first admin",
		chromedp.Navigate(srv.URL+"/setup?token="+token),
		chromedp.WaitVisible(chromedp.CSS("#setup-name")),
		chromedp.SendKeys(chromedp.CSS("#setup-name"), "Rita Alves"),
		chromedp.SendKeys(chromedp.CSS("#setup-password"), "rita-password"),
		chromedp.SendKeys(chromedp.CSS("#setup-repeat"), "rita-password"),
		chromedp.Click(chromedp.CSS(".setup-form button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("#status-switch")))
	waitFor(t, agent, "the playground, where setup leads", `location.pathname === '/playground' && !!document.querySelector('#pg-text')`)
	act(t, agent, "choosing Available", chromedp.Click(chromedp.CSS("#status-switch .st-available")))
	waitFor(t, agent, "Available", `document.querySelector('#status-switch').dataset.status === 'available'`)

	// The phone in a second tab of the same browser, as a newcomer opens it.
	phone, cancel := chromedp.NewContext(agent)
	t.Cleanup(cancel)
	if err := chromedp.Do(phone); err != nil {
		t.Fatalf("opening a second tab: %v", err)
	}
	front(t, phone)
	act(t, phone, "opening the playground", chromedp.Navigate(srv.URL+"/playground"), chromedp.WaitVisible(chromedp.CSS("#pg-text")),
		chromedp.Click(chromedp.CSS(`label:has(#pg-channel-meta)`)))
	phoneSays(t, phone, "hi")
	waitFor(t, phone, "the demo assistant's reply on the phone", phoneReplies+` >= 1`)
	before := evalJS[int](t, phone, phoneReplies)
	phoneSays(t, phone, "talk to a person")
	waitFor(t, phone, "the hand-off reply on the phone", fmt.Sprintf("%s > %d", phoneReplies, before))

	front(t, agent)
	act(t, agent, "opening Chats", chromedp.Click(chromedp.CSS(`#mainnav a[data-section="chats"]`)))
	waitFor(t, agent, "the handed-off chat in Rita's list", `!!document.querySelector('.chat-list li[data-conversation]')`)
	act(t, agent, "opening the chat", chromedp.Click(chromedp.CSS(".chat-list li[data-conversation] a.chat-item")),
		chromedp.WaitVisible(chromedp.CSS("#reply-text")))
	const answer = "Oi, aqui é a Rita. Em que posso ajudar?"
	act(t, agent, "answering", chromedp.SendKeys(chromedp.CSS("#reply-text"), answer), pressEnter())
	waitFor(t, agent, "the answer sent", `[...document.querySelectorAll('.thread .by-agent')].some(li => li.textContent.includes(`+jsString(answer)+`) && li.textContent.includes('Sent'))`)
	agentShot := screenshot(t, agent, shots, "newcomer-agent-view")

	front(t, phone)
	waitFor(t, phone, "the agent's answer on the phone", `[...document.querySelectorAll('#pg-thread .pg-out')].some(li => li.textContent.includes(`+jsString(answer)+`))`)
	act(t, phone, "a phone-sized window", chromedp.EmulateViewport(480, 860))
	phoneShot := screenshot(t, phone, shots, "newcomer-phone")
	beside(t, filepath.Join(shots, "newcomer-playground-beside-agent.png"), phoneShot, agentShot)
}

// beside writes the PNGs side by side into one image, left to right.
func beside(t *testing.T, out string, paths ...string) {
	t.Helper()
	var imgs []image.Image
	w, hgt := 0, 0
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		imgs = append(imgs, img)
		w += img.Bounds().Dx()
		hgt = max(hgt, img.Bounds().Dy())
	}
	canvas := image.NewRGBA(image.Rect(0, 0, w, hgt))
	draw.Draw(canvas, canvas.Bounds(), image.White, image.Point{}, draw.Src)
	x := 0
	for _, img := range imgs {
		r := img.Bounds()
		draw.Draw(canvas, image.Rect(x, 0, x+r.Dx(), r.Dy()), img, r.Min, draw.Over)
		x += r.Dx()
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, canvas); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", out)
}
