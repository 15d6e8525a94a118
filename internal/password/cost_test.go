package password

import "golang.org/x/crypto/bcrypt"

func bcryptCost(hash string) (int, error) { return bcrypt.Cost([]byte(hash)) }
