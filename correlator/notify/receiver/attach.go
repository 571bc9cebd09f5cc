package receiver

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"time"
)

// Attachment is a file sent with SendFile.
type Attachment struct {
	Name        string // file name shown to the reader
	ContentType string // e.g. application/pdf
	Data        []byte
}

// maxAttachment bounds what SendFile sends (relays commonly refuse more than 25 MB).
const maxAttachment = 20 << 20

// SendFile sends one multipart/mixed message — a text body and the attachments — to rcpts
// (the configured to when empty) through the receiver's relay, with the same STARTTLS and
// AUTH rules as notifications. The monthly report mails its PDF with it.
func (e *Email) SendFile(ctx context.Context, rcpts []string, subject, text string, date time.Time, files ...Attachment) error {
	if len(rcpts) == 0 {
		rcpts = e.cfg.To
	}
	if len(rcpts) == 0 {
		return fmt.Errorf("email %s: no recipient", e.name)
	}
	to := make([]string, 0, len(rcpts))
	for _, r := range rcpts {
		a, err := mail.ParseAddress(r)
		if err != nil {
			return fmt.Errorf("email %s: recipient %q: %w", e.name, r, err)
		}
		to = append(to, a.Address)
	}
	size := 0
	for _, f := range files {
		size += len(f.Data)
	}
	if size > maxAttachment {
		return fmt.Errorf("email %s: attachments of %d bytes, at most %d", e.name, size, maxAttachment)
	}
	msg := e.fileMessage(to, subject, text, date, files)
	if err := e.transact(ctx, to, msg); err != nil {
		return fmt.Errorf("email %s: %w", e.name, err)
	}
	return nil
}

func (e *Email) fileMessage(to []string, subject, text string, date time.Time, files []Attachment) []byte {
	var rnd [12]byte
	rand.Read(rnd[:])
	boundary := "wf-" + hex.EncodeToString(rnd[:])
	from, _ := mail.ParseAddress(e.cfg.From)
	fromHost := from.Address[strings.LastIndexByte(from.Address, '@')+1:]
	addrs := make([]string, len(to))
	for i, r := range to {
		addrs[i] = (&mail.Address{Address: r}).String()
	}
	if date.IsZero() {
		date = e.now()
	}
	var b bytes.Buffer
	h := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	h("From", from.String())
	h("To", strings.Join(addrs, ", "))
	h("Subject", mime.QEncoding.Encode("utf-8", headerText(subject)))
	h("Date", date.Format(time.RFC1123Z))
	h("Message-ID", "<"+hex.EncodeToString(rnd[:])+"@"+fromHost+">")
	h("MIME-Version", "1.0")
	h("Content-Type", `multipart/mixed; boundary="`+boundary+`"`)
	b.WriteString("\r\n")
	fmt.Fprintf(&b, "--%s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n", boundary)
	qp := quotedprintable.NewWriter(&b)
	qp.Write([]byte(text))
	qp.Close()
	b.WriteString("\r\n")
	for _, f := range files {
		name := mime.QEncoding.Encode("utf-8", headerText(f.Name))
		fmt.Fprintf(&b, "--%s\r\nContent-Type: %s; name=\"%s\"\r\nContent-Disposition: attachment; filename=\"%s\"\r\nContent-Transfer-Encoding: base64\r\n\r\n",
			boundary, headerText(f.ContentType), name, name)
		enc := base64.StdEncoding.EncodeToString(f.Data)
		for len(enc) > 76 {
			b.WriteString(enc[:76] + "\r\n")
			enc = enc[76:]
		}
		b.WriteString(enc + "\r\n")
	}
	fmt.Fprintf(&b, "--%s--\r\n", boundary)
	return b.Bytes()
}
