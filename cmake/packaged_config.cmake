# packaged_config.cmake: writes the config the .deb installs as
# /etc/tack/tack.yaml, from config/tack.example.yaml (which runs from a
# checkout, with paths relative to itself). The installed one points at the
# unit's state directory and the installed templates instead; the rest of
# the annotated example is kept word for word.
#
#   cmake -DINPUT=config/tack.example.yaml -DOUTPUT=build/packaging/tack.yaml -P this file
#
# A path line the example no longer has is an error, so the two cannot
# drift apart silently.
cmake_minimum_required(VERSION 3.25)

file(READ "${INPUT}" text)

# Each pair: what the example says, what the package says instead.
set(required_replacements
  "store:\n  path: tack.db " "store:\n  path: /var/lib/tack/tack.db "
  "templates:\n  dir: ../templates " "templates:\n  dir: /usr/share/tack/templates "
  "    path: outbox.db " "    path: /var/spool/tack/outbox.db "
  "    path: messages.jsonl " "    path: /var/lib/tack/messages.jsonl ")
# Prose that names the checkout's layout; left alone when reworded.
set(optional_replacements
  "# tack.example.yaml: a complete tack config that runs as it is."
  "# /etc/tack/tack.yaml: a complete tack config that runs as it is (tack.yaml(5))."
  "config/tack.example.yaml" "/etc/tack/tack.yaml"
  "(outbox.db, next to this file)" "(/var/spool/tack/outbox.db, which group tack may write)"
  "messages.jsonl (also next to this file)" "/var/lib/tack/messages.jsonl")

function(replace_pairs pairs required)
  list(LENGTH pairs n)
  math(EXPR last "${n} - 1")
  foreach(i RANGE 0 ${last} 2)
    math(EXPR j "${i} + 1")
    list(GET pairs ${i} from)
    list(GET pairs ${j} to)
    string(FIND "${text}" "${from}" at)
    if(at EQUAL -1)
      if(required)
        message(FATAL_ERROR "${INPUT} no longer contains \"${from}\": "
                            "update cmake/packaged_config.cmake")
      endif()
      continue()
    endif()
    string(REPLACE "${from}" "${to}" text "${text}")
  endforeach()
  set(text "${text}" PARENT_SCOPE)
endfunction()

replace_pairs("${required_replacements}" TRUE)
replace_pairs("${optional_replacements}" FALSE)

set(header [=[
# Installed by the tack package, as a conffile: your changes are kept on
# upgrade. Under tackd.service (user tack) the writable places are
# /var/lib/tack (its StateDirectory=, tack's alone), holding the store and
# the file gateway's output, and /var/spool/tack, holding the outbox that
# the shop's own process writes: add its user to group tack. Secrets: see
# LoadCredential= in tackd(8).
#
]=])
file(WRITE "${OUTPUT}" "${header}${text}")
