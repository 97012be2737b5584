package models

import (
	"errors"
	"strings"
	"testing"
)

func TestFirstAndTake(t *testing.T) {
	type thing struct {
		ID   uint
		Name string
	}
	db, err := Open(SQLite, t.TempDir()+"/first.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if s, err := db.DB(); err == nil {
			s.Close()
		}
	})
	if err := db.AutoMigrate(&thing{}); err != nil {
		t.Fatal(err)
	}
	if err := db.Create(&thing{ID: 7, Name: "seven"}).Error; err != nil {
		t.Fatal(err)
	}
	read := map[string]func(id uint) (*thing, error){
		"first": func(id uint) (*thing, error) { return first[thing](db, "read thing", id) },
		"take":  func(id uint) (*thing, error) { return take[thing](db.Where("id = ?", id), "read thing") },
	}
	for name, get := range read {
		t.Run(name, func(t *testing.T) {
			got, err := get(7)
			if err != nil || got == nil || got.Name != "seven" {
				t.Fatalf("present row: %+v, %v", got, err)
			}
			got, err = get(8)
			if !errors.Is(err, ErrNotFound) || got != nil {
				t.Fatalf("missing row: %+v, %v; want nil, ErrNotFound", got, err)
			}
		})
	}
	// Any other failure is wrapped with what was being done and is not ErrNotFound.
	if err := db.Migrator().DropTable(&thing{}); err != nil {
		t.Fatal(err)
	}
	for name, get := range read {
		_, err := get(7)
		if err == nil || errors.Is(err, ErrNotFound) || !strings.HasPrefix(err.Error(), "store: unable to read thing: ") {
			t.Fatalf("%s on a dropped table: %v", name, err)
		}
	}
}
