package cab

import "strconv"

// Method is a folder's compression method: the low nibble of CFFOLDER.typeCompress.
type Method uint16

// The compression methods of the cabinet format.
const (
	MethodNone    Method = 0
	MethodMSZIP   Method = 1
	MethodQuantum Method = 2
	MethodLZX     Method = 3
)

// String returns the method's usual name ("None", "MSZIP", "Quantum", "LZX"), or
// "Method(N)" for a value the format does not define.
func (m Method) String() string {
	switch m {
	case MethodNone:
		return "None"
	case MethodMSZIP:
		return "MSZIP"
	case MethodQuantum:
		return "Quantum"
	case MethodLZX:
		return "LZX"
	}
	return "Method(" + strconv.Itoa(int(m)) + ")"
}
