// TG_ARG: how every options type is declared, modules' and ops' (libtorch's idiom): a field
// with a chained setter and a getter of the same name.
//
//   class Conv1dOptions {
//    public:
//     Conv1dOptions(std::size_t in, std::size_t out, std::size_t kernel);  // the common case
//     TG_ARG(std::size_t, stride) = 1;                                     // the rest, chained
//   };
//   nn::Conv1d conv(nn::Conv1dOptions(4, 8, 3).stride(2).padding(1));
#pragma once

#define TG_ARG(T, name)                                                           \
 public:                                                                          \
  auto& name(const T& new_value) {                                                \
    this->name##_ = new_value;                                                    \
    return *this;                                                                 \
  }                                                                               \
  const T& name() const noexcept { return this->name##_; }                       \
                                                                                  \
 private:                                                                         \
  T name##_
