using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace VaeWeb.Server.Data.Migrations
{
    /// <summary>
    /// A run remembers the global step of its last epoch saved for resuming. Runs stored before have none (their
    /// folders hold no resume state): resuming one starts it again from the beginning.
    /// </summary>
    public partial class ResumeStep : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<long>(
                name: "ResumeStep",
                table: "Runs",
                type: "INTEGER",
                nullable: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "ResumeStep",
                table: "Runs");
        }
    }
}
