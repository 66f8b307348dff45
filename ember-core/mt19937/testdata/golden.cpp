// The reference values of mt19937_test.go, from libstdc++ (GCC 12):
//
//	g++ -O2 -std=c++17 -o /tmp/golden golden.cpp && /tmp/golden
#include <cstdio>
#include <random>

int main() {
    std::mt19937 def;  // default seed 5489
    for (int i = 0; i < 9999; ++i) def();
    std::printf("default 10000th %u\n", (unsigned)def());

    const int seeds[] = {1234, 0, -1, 42};
    for (int seed : seeds) {
        std::mt19937 rng(seed);
        std::printf("raw %d:", seed);
        for (int i = 0; i < 8; ++i) std::printf(" %u", (unsigned)rng());
        std::printf("\n");
    }
    const int ranges[][2] = {{0, 151935}, {0, 1}, {0, 2}, {-5, 5}, {0, 2147483646}, {-2147483647 - 1, 2147483647}, {7, 7}, {-1, 2147483647}, {-1073741824, 2147483647}};
    for (auto& ab : ranges) {
        std::mt19937 rng(1234);
        std::uniform_int_distribution<int> dist(ab[0], ab[1]);
        std::printf("dist 1234 [%d,%d]:", ab[0], ab[1]);
        for (int i = 0; i < 12; ++i) std::printf(" %d", dist(rng));
        std::printf("\n");
    }
    return 0;
}
