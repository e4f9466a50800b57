// The g++ workload's input (ab.py): the A/B harness times g++ -O2 compiling this file under each
// allocator. Heavy on the standard library's headers, so that the compiler allocates a lot;
// built by Bazel as well (//benchmarks:gxx_input), so that it keeps compiling.
#include <algorithm>
#include <iostream>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

int main() {
  std::map<std::string, std::vector<int>> index;
  for (int i = 0; i < 100000; ++i) index[std::to_string(i % 997)].push_back(i);
  std::unordered_map<int, std::string> names;
  for (int i = 0; i < 1000; ++i) names[i] = std::to_string(i * 7);
  long total = 0;
  for (const auto& [key, values] : index) total += key.size() * values.size();
  std::sort(names.begin()->second.begin(), names.begin()->second.end());
  std::cout << index.size() << " " << total << " " << names.size() << "\n";
}
