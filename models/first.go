package models

import (
	"errors"
	"fmt"

	"gorm.io/gorm"
)

// first reads the first row q finds (conds as gorm's First takes them) into a new T. A missing
// row is ErrNotFound; any other failure is "store: unable to <doing>: <cause>". It is the one
// place where gorm's ErrRecordNotFound becomes the package's ErrNotFound.
func first[T any](q *gorm.DB, doing string, conds ...any) (*T, error) {
	return one[T](q.First, doing, conds...)
}

// take is first without the primary-key order (gorm's Take), for queries that order themselves
// or need none.
func take[T any](q *gorm.DB, doing string, conds ...any) (*T, error) {
	return one[T](q.Take, doing, conds...)
}

func one[T any](find func(dest any, conds ...any) *gorm.DB, doing string, conds ...any) (*T, error) {
	var v T
	err := find(&v, conds...).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: unable to %s: %w", doing, err)
	}
	return &v, nil
}
