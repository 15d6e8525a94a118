package lzx
import ("testing";"fmt";"runtime")
func TestDbgCPU(t *testing.T){
 for _, name := range []string{"realistic-verbatim", "realistic-aligned", "generated"} {
   s := benchData(t)[name]
   d, _ := NewDecoder(s.windowBits)
   runtime.GC()
   best := 1e9
   for range 15 {
     c0 := cpuTime()
     d.Reset(); for i, f := range s.frames { if _, err := d.Decode(f, s.sizes[i]); err != nil { t.Fatal(err) } }
     best = min(best, (cpuTime() - c0).Seconds())
   }
   fmt.Printf("%s: %.0f MB/s ", name, float64(s.total)/1e6/best)
 }
 fmt.Println()
}
