# The rollcall part of a Packer template: copy the binary, the policy and
# the units into the image, then run install.sh. Paste the two provisioners
# into your template's build block (the source below is an example). From
# the repository root (the default paths are relative to it):
#
#   scripts/release        # dist/rollcall (static) and dist/plugins/*.wasm
#   packer init packaging/packer
#   packer build packaging/packer
#
# Build the image on the instance family the fleet runs on: the policy is
# compiled for the CPU it is compiled on, and a machine without those CPU
# features compiles it again at start instead of loading it (still correct,
# some 80 ms slower).

packer {
  required_plugins {
    amazon = {
      source  = "github.com/hashicorp/amazon"
      version = ">= 1.3.0"
    }
  }
}

variable "region" {
  type    = string
  default = "eu-west-1"
}

variable "rollcall_binary" {
  type    = string
  default = "dist/rollcall"
}

variable "policy" {
  type    = string
  default = "dist/plugins/elastic_grid.wasm"
}

source "amazon-ebs" "fleet" {
  region        = var.region
  instance_type = "t3.small"
  ssh_username  = "admin"
  ami_name      = "fleet-rollcall-{{timestamp}}"
  source_ami_filter {
    filters = {
      name                = "debian-12-amd64-*"
      virtualization-type = "hvm"
    }
    owners      = ["136693071363"] # Debian
    most_recent = true
  }
}

build {
  sources = ["source.amazon-ebs.fleet"]

  # rollcall: begin
  provisioner "shell" {
    inline = ["mkdir -p /tmp/rollcall"]
  }

  provisioner "file" {
    sources = [
      var.rollcall_binary,
      "${path.root}/../systemd/rollcall-boot.service",
      "${path.root}/../systemd/rollcall.service",
    ]
    destination = "/tmp/rollcall/"
  }

  provisioner "file" {
    source      = var.policy
    destination = "/tmp/rollcall/policy.wasm"
  }

  provisioner "shell" {
    script          = "${path.root}/install.sh"
    execute_command = "chmod +x {{ .Path }}; sudo sh -c '{{ .Vars }} {{ .Path }}'"
  }
  # rollcall: end
}
