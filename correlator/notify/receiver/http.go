package receiver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// ErrPermanent marks a failure that retrying cannot fix: the far end refused the request
// (HTTP 4xx other than 408 and 429, SMTP 5xx, PagerDuty's 400). Callers test it with
// errors.Is and stop retrying.
var ErrPermanent = errors.New("permanent delivery failure")

// permanent wraps err so that errors.Is(err, ErrPermanent) holds.
func permanent(err error) error { return fmt.Errorf("%w: %w", ErrPermanent, err) }

// IsPermanent reports whether err is a permanent failure.
func IsPermanent(err error) bool { return errors.Is(err, ErrPermanent) }

// DefaultTimeout bounds one attempt when a receiver's config sets none.
const DefaultTimeout = 10 * time.Second

// maxErrBody is how much of a refusing server's answer goes into the error.
const maxErrBody = 512

// post makes one POST of body to url and classifies the answer: ok(status) true is success;
// 408, 429 and 5xx are retryable; other statuses are permanent. The URL is never part of the
// error: Slack and Teams URLs are credentials.
func post(ctx context.Context, client *http.Client, timeout time.Duration, url string, body []byte, hdr http.Header, ok func(int) bool) error {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return permanent(errors.New("cannot build request (bad URL)"))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Watchfloor")
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		// Do's *url.Error names the URL: keep only the cause.
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) && ue.Unwrap() != nil {
			err = ue.Unwrap()
		}
		return fmt.Errorf("post: %w", err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16)) // let the connection be reused
	if ok(resp.StatusCode) {
		return nil
	}
	err = fmt.Errorf("HTTP %d: %q", resp.StatusCode, bytes.TrimSpace(snippet))
	switch {
	case resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode >= 500:
		return err
	default:
		return permanent(err)
	}
}

func is2xx(code int) bool { return code >= 200 && code < 300 }

// defaultClient is used when a receiver is given no *http.Client.
func defaultClient(c *http.Client) *http.Client {
	if c != nil {
		return c
	}
	return &http.Client{Transport: http.DefaultTransport}
}
