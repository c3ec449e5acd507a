package main

import (
	"context"
	"errors"
)

func demo(ctx context.Context, webhook bool) error {
	return errors.New("demo: not written yet")
}
